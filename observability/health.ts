import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency answers; throws with the reason otherwise. */
  check(): Promise<void>;
}

/** Records each readiness check's outcome (a gauge per check). */
export type CheckRecorder = (name: string, ok: boolean) => void;

/**
 * /healthz: the process works (it answers). /readyz: every dependency of its roles answers and, for
 * a dispatcher, its lease is held. /metrics: Prometheus text format; the readiness checks run
 * before each scrape too, so their gauges are current even where nothing probes /readyz.
 */
export function healthRoutes(
  registry: Registry,
  checks: ReadinessCheck[],
  record?: CheckRecorder,
  options: { metrics: "public" | "admin" | "none" } = { metrics: "public" },
) {
  const run = () => runReadiness(checks, record);
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get("/healthz", async () => ({ status: "ok" }));
    app.get("/readyz", async (_request, reply) => {
      const results = await run();
      const ready = results.every((r) => r.ok);
      return reply.status(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", checks: results });
    });
    if (options.metrics === "none") return;
    // On the API's port, under required authentication, only admin keys read the metrics; on a
    // port of their own (TASKSTREAM_METRICS_PORT) they are public to whoever reaches that port.
    const config: { scope?: "admin" } = options.metrics === "admin" ? { scope: "admin" } : {};
    app.get("/metrics", { config }, async (_request, reply) => {
      if (record) await run();
      const text = await registry.metrics();
      return reply.header("content-type", registry.contentType).send(text);
    });
  };
}

/** One check's outcome: `reason` says why it failed. */
export interface CheckResult {
  name: string;
  ok: boolean;
  reason?: string;
}

/**
 * Runs every readiness check at once, each bounded to 2 s, and records each outcome. The one
 * readiness of a process: /readyz, /metrics and the gRPC health service all ask it.
 */
export async function runReadiness(checks: ReadinessCheck[], record?: CheckRecorder): Promise<CheckResult[]> {
  const results = await Promise.all(
    checks.map(async (readiness): Promise<CheckResult> => {
      const name = readiness.name;
      try {
        await withTimeout(readiness.check(), 2000);
        return { name, ok: true };
      } catch (error) {
        return { name, ok: false, reason: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  for (const result of results) record?.(result.name, result.ok);
  return results;
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)),
  );
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
