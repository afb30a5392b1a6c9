import { createClient, type Client } from "graphql-ws";

/** A GraphQL answer's errors, as the read API sends them (code, field names). */
export interface GraphQLErrorEntry {
  message: string;
  extensions?: { code?: string; fields?: { field: string; reason: string }[] };
}

/** A request the read API refused or could not answer; `message` is meant for people. */
export class RequestError extends Error {
  readonly errors: GraphQLErrorEntry[];
  constructor(errors: GraphQLErrorEntry[]) {
    const first = errors[0];
    const fields = first?.extensions?.fields?.map((f) => `${f.field}: ${f.reason}`).join("; ");
    super(fields ? `${first?.message ?? "error"} (${fields})` : (first?.message ?? "request failed"));
    this.errors = errors;
  }
}

/** Runs a query or mutation over HTTP against the server that served the console (same origin). */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let reply: Response;
  try {
    reply = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new RequestError([{ message: "the server does not answer" }]);
  }
  const body = (await reply.json().catch(() => null)) as { data?: T; errors?: GraphQLErrorEntry[] } | null;
  if (!body) throw new RequestError([{ message: `HTTP ${reply.status}` }]);
  if (body.errors?.length) throw new RequestError(body.errors);
  return body.data as T;
}

/** Whether the live connection is up; listeners hear every change. */
export const connection = {
  live: false,
  listeners: new Set<(live: boolean) => void>(),
  set(live: boolean) {
    if (live === this.live) return;
    this.live = live;
    for (const listener of this.listeners) listener(live);
  },
};

let client: Client | null = null;
/** Subscriptions running now: while there are some, they bring the connection back themselves. */
let active = 0;

/**
 * The one WebSocket of the page, opened at once (the header shows whether it is up). No automatic
 * retry: a subscription starts again by itself (below), with variables it chooses — the task feed
 * resumes from the last cursor it received instead of repeating its first one. With none running,
 * a lost connection is opened again here, every few seconds.
 */
function wsClient(): Client {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  client ??= createClient({
    url,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => undefined,
    on: {
      connected: () => connection.set(true),
      closed: () => {
        connection.set(false);
        setTimeout(() => {
          if (connection.live || active > 0) return;
          void client?.dispose();
          client = null;
          wsClient();
        }, 3000);
      },
    },
  });
  return client;
}

/** Opens the live connection now (the console calls it at start). */
export function connectLive(): void {
  wsClient();
}

/**
 * A subscription that starts again after the connection drops (after 1, 2, 4… up to 10 s).
 * `variables` is asked again at each start. Returns the function that ends it.
 */
export function subscribe<T>(
  query: string,
  variables: () => Record<string, unknown>,
  onData: (data: T) => void,
): () => void {
  let stopped = false;
  let stop: (() => void) | null = null;
  let delay = 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  active++;
  const start = () => {
    if (stopped) return;
    stop = wsClient().subscribe<T>(
      { query, variables: variables() },
      {
        next: (result) => {
          delay = 1000;
          if (result.data) onData(result.data);
        },
        error: () => again(),
        complete: () => again(),
      },
    );
  };
  const again = () => {
    if (stopped) return;
    timer = setTimeout(start, delay);
    delay = Math.min(delay * 2, 10_000);
  };
  start();
  return () => {
    stopped = true;
    active--;
    clearTimeout(timer);
    stop?.();
  };
}
