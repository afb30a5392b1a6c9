import { existsSync, readFileSync } from "node:fs";

/** A handler's start, as the conformance worker logs it (SPEC.md). */
export interface StartEffect {
  event: "start";
  lang: string;
  taskId: string;
  attempt: number;
  type: string;
  idempotencyKey: string;
  lastDetails: unknown;
  deadlineMs: number | null;
  traceparent: string | null;
  workerId: string;
}

/** A handler's end, as the conformance worker logs it (SPEC.md). */
export interface EndEffect {
  event: "end";
  lang: string;
  taskId: string;
  attempt: number;
  outcome: "completed" | "failed" | "cancelled" | "deadline" | "stopping";
}

export type Effect = StartEffect | EndEffect;

const POLL_MS = 20;

/**
 * One worker's effects file, read by the suite. Lines are appended whole by the worker, so every
 * complete line is a whole effect; a last line without its newline is still being written and is
 * left for the next read.
 */
export class EffectsLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Every effect written so far. */
  all(): Effect[] {
    if (!existsSync(this.path)) return [];
    const text = readFileSync(this.path, "utf8");
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    return complete
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as Effect);
  }

  /** The effects of one task, in the order written. */
  of(taskId: string): Effect[] {
    return this.all().filter((effect) => effect.taskId === taskId);
  }

  /** The start of a task's attempt, once the worker has written it. */
  start(taskId: string, attempt: number, timeoutMs = 15_000): Promise<StartEffect> {
    return this.waitFor(
      (e): e is StartEffect => e.event === "start" && e.taskId === taskId && e.attempt === attempt,
      timeoutMs,
      `start of ${taskId} attempt ${attempt}`,
    );
  }

  /** The end of a task's attempt, once the worker has written it. */
  end(taskId: string, attempt: number, timeoutMs = 15_000): Promise<EndEffect> {
    return this.waitFor(
      (e): e is EndEffect => e.event === "end" && e.taskId === taskId && e.attempt === attempt,
      timeoutMs,
      `end of ${taskId} attempt ${attempt}`,
    );
  }

  /** The first effect `match` accepts, waiting until the worker writes it. */
  async waitFor<E extends Effect>(match: (effect: Effect) => effect is E, timeoutMs: number, what: string) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.all().find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${what} in the effects within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
