import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on loopback that can freeze: from `freeze()` on it forwards nothing in either
 * direction and accepts no new connection, yet closes nothing — what a worker sees of a dispatcher
 * host that froze or whose route went dark, with no FIN or RST to tell it.
 */
export class FreezingProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private frozen = false;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(target: { host: string; port: number }): Promise<FreezingProxy> {
    const server = createServer((client) => {
      if (proxy.frozen) return; // the connection hangs: accepted by the kernel, never answered
      const upstream = connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        proxy.sockets.add(socket);
        socket.on("close", () => proxy.sockets.delete(socket));
        socket.on("error", () => undefined);
      }
      const forward = (from: Socket, to: Socket) =>
        from.on("data", (chunk: Buffer) => {
          if (!proxy.frozen) to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    const proxy = new FreezingProxy(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get address(): string {
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("proxy is not listening");
    return `127.0.0.1:${address.port}`;
  }

  freeze(): void {
    this.frozen = true;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
