import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, request } from "node:https";
import type { RunningServer } from "../cli/server.ts";
import { eventually, startTestServer } from "../tests/support/server.ts";
import { makeCertificates, type TestCertificates } from "../tests/support/certificates.ts";
import { TaskstreamClient, Worker } from "../sdk/typescript/src/index.ts";

/** GET over HTTPS, trusting the test CA. */
function httpsGet(url: string, ca: Buffer, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent: new Agent({ ca }), headers: { authorization: `Bearer ${key}` } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("TLS for HTTP and gRPC, mutual TLS for workers", () => {
  let certs: TestCertificates;
  let server: RunningServer;
  let key: string;

  beforeAll(async () => {
    certs = makeCertificates();
    server = await startTestServer(
      { auth: "required", tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: certs.caCert },
      "tls",
    );
    key = (await server.keys.create({ namespaces: ["*"], scopes: ["submit", "read", "worker"] })).key;
    await eventually(() => (server.dispatcher!.leading ? true : undefined), 15_000, "leadership");
  });
  afterAll(async () => server?.close());

  it("serves HTTPS with the configured certificate", async () => {
    expect(server.httpUrl).toMatch(/^https:/);
    expect(await httpsGet(`${server.httpUrl}/v1/queues`, certs.read(certs.caCert), key)).toBe(200);
    await expect(fetch(server.httpUrl.replace("https", "http") + "/healthz")).rejects.toThrow();
  });

  it("requires a client certificate from the configured CA on gRPC (a worker and a client)", async () => {
    const tls = {
      ca: certs.read(certs.caCert),
      cert: certs.read(certs.clientCert),
      key: certs.read(certs.clientKey),
    };
    const client = new TaskstreamClient({ address: server.grpcAddress, apiKey: key, tls, coalesce: false });
    const worker = new Worker({
      addresses: [server.grpcAddress],
      apiKey: key,
      tls,
      handlers: { "tls-echo": async (payload) => payload },
    });
    try {
      await worker.start();
      const { id } = await client.submit({ type: "tls-echo", payload: { over: "mtls" } });
      const done = await eventually(async () => {
        const task = await client.get(id);
        return task.state === "SUCCEEDED" ? task : undefined;
      });
      expect(done.result).toEqual({ over: "mtls" });
    } finally {
      await worker.stop({ graceMs: 1000 });
      client.close();
    }
    // Without a client certificate, or with one from another CA, the handshake fails.
    for (const stranger of [
      { ca: certs.read(certs.caCert) },
      {
        ca: certs.read(certs.caCert),
        cert: certs.read(certs.strangerCert),
        key: certs.read(certs.strangerKey),
      },
    ]) {
      const refused = new TaskstreamClient({
        address: server.grpcAddress,
        apiKey: key,
        tls: stranger,
        coalesce: false,
        timeoutMs: 3000,
      });
      await expect(refused.list()).rejects.toMatchObject({ status: "UNAVAILABLE" });
      refused.close();
    }
  });
});
