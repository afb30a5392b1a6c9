/** A message of the graphql-transport-ws protocol. */
export interface WsMessage {
  id?: string;
  type: string;
  payload?: {
    data?: Record<string, unknown>;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
}

/**
 * A minimal graphql-transport-ws client on Node's WebSocket, for tests that must control the
 * connection (drop it mid-stream): `subscribe` starts an operation, `next` takes the first message
 * matching, `drop` closes the socket at once.
 */
export async function connectGraphqlWs(url: string) {
  const socket = new WebSocket(url, "graphql-transport-ws");
  const inbox: WsMessage[] = [];
  let wake = () => {};
  socket.addEventListener("message", (event: MessageEvent) => {
    inbox.push(JSON.parse(String(event.data)) as WsMessage);
    wake();
  });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  const next = async (
    match: (m: WsMessage) => boolean,
    timeoutMs = 10_000,
  ): Promise<WsMessage | undefined> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0];
      if (Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  const send = (message: Record<string, unknown>) => socket.send(JSON.stringify(message));
  send({ type: "connection_init" });
  if (!(await next((m) => m.type === "connection_ack"))) throw new Error("no connection_ack");
  let ids = 0;
  return {
    next,
    subscribe(query: string, variables: Record<string, unknown> = {}): string {
      const id = String(++ids);
      send({ id, type: "subscribe", payload: { query, variables } });
      return id;
    },
    drop: () => socket.close(),
  };
}
