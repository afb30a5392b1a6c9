import { closeSync, openSync, writeSync } from "node:fs";
import {
  CancelledError,
  DeadlineExceededError,
  WorkerStoppingError,
  type TaskContext,
} from "../../../../sdk/typescript/src/index.ts";

/** How a handler invocation ended, as SPEC.md names it. */
export type Outcome = "completed" | "failed" | "cancelled" | "deadline" | "stopping";

/**
 * The effects log of SPEC.md: one JSON line when a handler starts and one when it ends. Each line is
 * one `write` on a descriptor opened in append mode, so lines of concurrent handlers never interleave
 * and the suite sees a line as soon as it is written (no buffering in this process).
 */
export class Effects {
  private readonly fd: number | null;
  private readonly lang: string;

  constructor(path: string | undefined, lang: string) {
    this.fd = path ? openSync(path, "a") : null;
    this.lang = lang;
  }

  start(type: string, ctx: TaskContext, workerId: string): void {
    this.write({
      event: "start",
      lang: this.lang,
      taskId: ctx.taskId,
      attempt: ctx.attempt,
      type,
      idempotencyKey: ctx.idempotencyKey,
      lastDetails: ctx.lastDetails ?? null,
      deadlineMs: ctx.deadline?.getTime() ?? null,
      traceparent: ctx.traceparent ?? null,
      workerId,
    });
  }

  end(ctx: TaskContext, outcome: Outcome): void {
    this.write({ event: "end", lang: this.lang, taskId: ctx.taskId, attempt: ctx.attempt, outcome });
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
  }

  private write(effect: Record<string, unknown>): void {
    if (this.fd !== null) writeSync(this.fd, `${JSON.stringify(effect)}\n`);
  }
}

/** The outcome of a handler that threw `error`: the SDK's abort reasons name why it stopped. */
export function outcomeOf(error: unknown): Outcome {
  if (error instanceof CancelledError) return "cancelled";
  if (error instanceof DeadlineExceededError) return "deadline";
  if (error instanceof WorkerStoppingError) return "stopping";
  return "failed";
}
