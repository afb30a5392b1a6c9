import { NonRetryableError, type TaskContext } from "../../../../sdk/typescript/src/index.ts";

/** A retryable failure the `fail` and `details` behaviours throw; its name is the reported error type. */
export class ConformanceError extends Error {
  override readonly name = "ConformanceError";
}

/** The non-retryable failure of the `fatal` behaviour. */
export class ConformanceFatal extends NonRetryableError {}

/** One behaviour of SPEC.md: the handler body, given the worker's language for `echo`. */
export type Behaviour = (payload: unknown, ctx: TaskContext, lang: string) => Promise<unknown>;

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Rejects with the signal's reason once it aborts (cancel, deadline or shutdown); never resolves. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
  });
}

/** A numeric field of a payload object, or `fallback` when the field (or the object) is absent. */
function count(payload: unknown, field: string, fallback: number): number {
  const value =
    typeof payload === "object" && payload !== null ? (payload as Record<string, unknown>)[field] : undefined;
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

/** The behaviours of SPEC.md, keyed by task type (after the prefix). */
export const BEHAVIOURS: Record<string, Behaviour> = {
  echo: async (payload, ctx, lang) => ({ echo: payload, attempt: ctx.attempt, lang }),

  fail: async (payload, ctx) => {
    if (ctx.attempt <= count(payload, "times", 1)) throw new ConformanceError(`attempt ${ctx.attempt} fails`);
    return { attempt: ctx.attempt };
  },

  fatal: async () => {
    throw new ConformanceFatal("fatal");
  },

  details: async (_payload, ctx) => {
    if (ctx.attempt >= 2) return { lastDetails: ctx.lastDetails ?? null };
    ctx.heartbeat({ step: 1 });
    await sleep(300, ctx.signal);
    throw new ConformanceError(`attempt ${ctx.attempt} fails`);
  },

  hang: async (payload, ctx) => {
    if (ctx.attempt <= count(payload, "hangAttempts", 1)) return aborted(ctx.signal);
    return { attempt: ctx.attempt };
  },

  "wait-cancel": async (_payload, ctx) => aborted(ctx.signal),

  deadline: async (_payload, ctx) => aborted(ctx.signal),

  slow: async (payload, ctx) => {
    const ms = count(payload, "ms", 1000);
    await sleep(ms, ctx.signal);
    return { slept: ms };
  },

  large: async (payload) => "x".repeat(count(payload, "bytes", 0)),

  heartbeat: async (payload, ctx) => {
    const beats = count(payload, "beats", 5);
    const everyMs = count(payload, "everyMs", 50);
    for (let beat = 1; beat <= beats; beat++) {
      if (beat > 1) await sleep(everyMs, ctx.signal);
      ctx.heartbeat({ beat });
    }
    return { beats };
  },
};
