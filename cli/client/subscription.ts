import { ApiError, UnreachableError } from "./api-client.ts";

/** A live GraphQL subscription: `stop()` ends it; `done` settles when it ends (rejects on failure). */
export interface Subscription {
  done: Promise<void>;
  stop(): void;
}

interface Message {
  id?: string;
  type: string;
  payload?: {
    data?: Record<string, unknown>;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
}

/**
 * Follows one GraphQL subscription over the graphql-transport-ws protocol (the one the read API
 * speaks at /graphql), calling `onData` with each result's data in order.
 */
export function subscribe(
  httpUrl: string,
  query: string,
  variables: Record<string, unknown>,
  onData: (data: Record<string, unknown>) => void,
  apiKey?: string,
): Subscription {
  const wsUrl = `${httpUrl.replace(/^http/, "ws")}/graphql`;
  const socket = new WebSocket(wsUrl, "graphql-transport-ws");
  let stopped = false;
  let opened = false;
  const done = new Promise<void>((resolve, reject) => {
    const send = (message: Record<string, unknown>) => socket.send(JSON.stringify(message));
    socket.addEventListener("open", () => {
      opened = true;
      send({ type: "connection_init", payload: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
    });
    socket.addEventListener("message", (event: MessageEvent) => {
      const message = JSON.parse(String(event.data)) as Message;
      if (message.type === "connection_ack")
        send({ id: "1", type: "subscribe", payload: { query, variables } });
      else if (message.type === "ping") send({ type: "pong" });
      else if (message.type === "next" && message.payload?.errors?.[0]) {
        const first = message.payload.errors[0];
        reject(new ApiError(first.message, null, first.extensions?.code ?? "GRAPHQL_ERROR"));
        socket.close();
      } else if (message.type === "next" && message.payload?.data) onData(message.payload.data);
      else if (message.type === "error") {
        const first = (message.payload as unknown as { message: string }[] | undefined)?.[0];
        reject(new ApiError(first?.message ?? "subscription refused", null, "GRAPHQL_ERROR"));
        socket.close();
      } else if (message.type === "complete") {
        resolve();
        socket.close();
      }
    });
    socket.addEventListener("error", () => {
      if (!opened) reject(new UnreachableError(httpUrl, new Error(`no WebSocket at ${wsUrl}`)));
    });
    socket.addEventListener("close", (event: CloseEvent) => {
      if (stopped) resolve();
      else
        reject(
          new ApiError(
            `the server closed the subscription${event.reason ? `: ${event.reason}` : ""}`,
            null,
            `WS_${event.code}`,
          ),
        );
    });
  });
  return {
    done,
    stop() {
      stopped = true;
      socket.close();
    },
  };
}
