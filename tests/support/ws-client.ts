/** A GraphQL subscription client over the graphql-transport-ws protocol, on Node's WebSocket. */
export interface WsClient {
  send(message: Record<string, unknown>): void;
  /** The first message (taken from the inbox) that matches, waiting up to timeoutMs for it. */
  next(match: (m: WsMessage) => boolean, timeoutMs?: number): Promise<WsMessage | undefined>;
  /** Resolves with the close code once the server closed the socket (undefined if it did not in time). */
  closed(timeoutMs?: number): Promise<number | undefined>;
  close(): void;
}

export interface WsMessage {
  type: string;
  id?: string;
  payload?: unknown;
}

/**
 * Opens a socket to `url` (headers: sent with the upgrade, e.g. authorization) and sends
 * connection_init with `initPayload`. Rejects when the upgrade is refused (status in the message).
 */
export async function openWs(
  url: string,
  initPayload?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<WsClient> {
  const { default: WebSocket } = await import("ws");
  const socket = new WebSocket(url, "graphql-transport-ws", { headers });
  const inbox: WsMessage[] = [];
  let closeCode: number | undefined;
  let wake = () => {};
  socket.on("message", (data: Buffer) => {
    inbox.push(JSON.parse(data.toString()) as WsMessage);
    wake();
  });
  socket.on("close", (code: number) => {
    closeCode = code;
    wake();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("unexpected-response", (_request, response) =>
      reject(new Error(`upgrade refused: ${response.statusCode}`)),
    );
    socket.once("error", reject);
  });
  const wait = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const next = async (match: (m: WsMessage) => boolean, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0];
      if (Date.now() >= deadline || closeCode !== undefined) return undefined;
      await wait(deadline - Date.now());
    }
  };
  const send = (message: Record<string, unknown>) => socket.send(JSON.stringify(message));
  send(
    initPayload === undefined
      ? { type: "connection_init" }
      : { type: "connection_init", payload: initPayload },
  );
  return {
    send,
    next,
    async closed(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (closeCode === undefined && Date.now() < deadline) await wait(deadline - Date.now());
      return closeCode;
    },
    close: () => socket.close(),
  };
}
