import { NonRetryableError, Worker, type Logger, type TaskContext } from "../sdk/typescript/src/index.ts";

/** Sleeps `ms`, ending early with the signal's reason when the attempt is cancelled. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

/**
 * The demo worker `taskstream dev` runs: `echo` returns its payload; `sleep {ms}` sleeps, honouring
 * cancellation; `fail {times, nonRetryable?}` fails its first `times` attempts, then succeeds.
 */
export const demoHandlers = {
  echo: async (payload: unknown) => payload,
  sleep: async (payload: unknown, ctx: TaskContext) => {
    const ms = Number((payload as { ms?: unknown } | null)?.ms ?? 1000);
    await sleep(Number.isFinite(ms) ? ms : 1000, ctx.signal);
    return { slept: ms };
  },
  fail: async (payload: unknown, ctx: TaskContext) => {
    const { times = 1, nonRetryable = false } = (payload ?? {}) as { times?: number; nonRetryable?: boolean };
    if (ctx.attempt <= times) {
      const message = `failing attempt ${ctx.attempt} of the first ${times}`;
      throw nonRetryable ? new NonRetryableError(message) : new Error(message);
    }
    return { succeededOnAttempt: ctx.attempt };
  },
};

export function startDemoWorker(address: string, slots = 20, logger?: Logger, apiKey?: string): Worker {
  return new Worker({
    addresses: [address],
    name: "demo-worker",
    slots,
    handlers: demoHandlers,
    logger,
    ...(apiKey ? { apiKey } : {}),
  });
}
