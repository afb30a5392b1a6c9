/**
 * The TypeScript conformance worker (tests/conformance/SPEC.md): registers every behaviour as
 * `<prefix>.<behaviour>`, prints `ready <worker id>`, logs each handler's start and end to the effects
 * file, and stops gracefully on SIGTERM/SIGINT. Run by the suite as
 * `node tests/conformance/workers/typescript/worker.ts`, configured by environment only.
 */
import { Worker, type Handler, type Logger } from "../../../../sdk/typescript/src/index.ts";
import { BEHAVIOURS } from "./behaviours.ts";
import { Effects, outcomeOf } from "./effects.ts";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw ? Number(raw) : fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}

// Stdout carries only the ready line; everything the SDK has to say goes to stderr.
const stderrLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message, fields) => console.error(`warn: ${message}`, JSON.stringify(fields ?? {})),
  error: (message, fields) => console.error(`error: ${message}`, JSON.stringify(fields ?? {})),
};

async function main(): Promise<void> {
  const lang = process.env.CONFORMANCE_LANG || "typescript";
  const prefix = required("CONFORMANCE_PREFIX");
  const labels = JSON.parse(process.env.CONFORMANCE_LABELS || "{}") as Record<string, string>;
  const graceMs = Number(process.env.CONFORMANCE_GRACE_MS || 10_000);
  const effects = new Effects(process.env.CONFORMANCE_EFFECTS, lang);

  let worker: Worker | null = null;
  const handlers: Record<string, Handler> = {};
  for (const [behaviour, body] of Object.entries(BEHAVIOURS)) {
    handlers[`${prefix}.${behaviour}`] = async (payload, ctx) => {
      effects.start(behaviour, ctx, worker?.id ?? "");
      try {
        const result = await body(payload, ctx, lang);
        effects.end(ctx, "completed");
        return result;
      } catch (error) {
        effects.end(ctx, outcomeOf(error));
        throw error;
      }
    };
  }
  worker = new Worker({
    addresses: required("TASKSTREAM_ADDRESSES")
      .split(",")
      .map((address) => address.trim()),
    name: process.env.CONFORMANCE_NAME || `conformance-${lang}`,
    slots: positiveInt("CONFORMANCE_SLOTS", 4),
    labels,
    handlers,
    logger: stderrLogger,
    ...(process.env.TASKSTREAM_API_KEY ? { apiKey: process.env.TASKSTREAM_API_KEY } : {}),
  });

  const running = worker;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void running
      .stop({ graceMs })
      .then(() => {
        effects.close();
        process.exit(0);
      })
      .catch((error: unknown) => {
        console.error("stop failed:", error);
        process.exit(1);
      });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  await worker.start();
  process.stdout.write(`ready ${worker.id}\n`);
}

main().catch((error: unknown) => {
  console.error("conformance worker failed:", error);
  process.exit(1);
});
