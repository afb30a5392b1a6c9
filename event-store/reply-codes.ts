import { ConcurrencyError, StaleEpochError, TaskstreamError } from "../domain/task/index.ts";

/**
 * The codes the Lua scripts answer with: one table for both languages (BullMQ's ErrorCode is the
 * model). Every script is loaded with these names defined (`luaPreamble`), so a script says
 * `return {STALE_EPOCH, highest}`, never a bare number, and TypeScript reads the answer by the same
 * name; reply-codes.unit.spec.ts checks that no script answers with a bare code.
 */
export const REPLY = {
  /** Done: appended, trimmed. */
  OK: 1,
  /** The aggregate is not at the expected version (optimistic concurrency). */
  VERSION_CONFLICT: -1,
  /** The idempotency key already names a task. */
  DEDUPLICATED: -2,
  /** A writer with a higher fencing epoch has written here: nothing was changed. */
  STALE_EPOCH: -3,
} as const;

export type ReplyCode = (typeof REPLY)[keyof typeof REPLY];

/** Lua lines defining every code as a local, prepended to each script when it is loaded. */
export function luaPreamble(): string {
  return `${Object.entries(REPLY)
    .map(([name, code]) => `local ${name} = ${code}`)
    .join("\n")}\n`;
}

/** What a refusal means to the caller; `context` names the write it refused. */
export function replyError(
  code: number,
  value: string | number,
  context: { taskId?: string; expectedVersion?: number; epoch?: number },
): TaskstreamError {
  switch (code) {
    case REPLY.VERSION_CONFLICT:
      return new ConcurrencyError(context.taskId ?? "?", context.expectedVersion ?? -1, Number(value));
    case REPLY.STALE_EPOCH:
      return new StaleEpochError(context.epoch ?? 0, Number(value));
    default:
      return new TaskstreamError("UNAVAILABLE", `unexpected reply from a log script: ${code} ${value}`);
  }
}
