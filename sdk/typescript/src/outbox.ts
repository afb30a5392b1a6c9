import type { WorkerMessage } from "@taskstream/protocol/workers";
import { attemptKey } from "./reports.ts";

type Msg = NonNullable<WorkerMessage["msg"]>;

/**
 * Drops every `started` whose attempt's result (completed or failed) is in the same list: the
 * dispatcher records the start implicitly with the result. A start is kept when a progress report
 * of its attempt is in the list too, so the history never shows progress before the start. The
 * order of what remains is kept.
 */
export function dropRedundantStarts(messages: readonly Msg[]): Msg[] {
  let finals: Set<string> | null = null;
  let progressing: Set<string> | null = null;
  for (const m of messages) {
    if (m.$case === "completed" || m.$case === "failed")
      (finals ??= new Set()).add(attemptKey(m.value.taskId, m.value.attempt));
    else if (m.$case === "progress")
      (progressing ??= new Set()).add(attemptKey(m.value.taskId, m.value.attempt));
  }
  if (finals === null) return [...messages];
  return messages.filter((m) => {
    if (m.$case !== "started") return true;
    const key = attemptKey(m.value.taskId, m.value.attempt);
    return !finals.has(key) || progressing?.has(key) === true;
  });
}

/**
 * The worker's outgoing reports, written once per event-loop turn: everything queued during a turn
 * is handed to `write` together (after `dropRedundantStarts`), so that under load one gRPC message
 * carries many reports.
 */
export class Outbox {
  private readonly write: (messages: Msg[]) => void;
  private queue: Msg[] = [];
  /** Whether the dispatcher records implied starts (its Registered said so): only then are starts left out. */
  impliedStarts = false;
  private pending: NodeJS.Immediate | null = null;

  constructor(write: (messages: Msg[]) => void) {
    this.write = write;
  }

  /** How many messages wait for the next flush. */
  get size(): number {
    return this.queue.length;
  }

  /** Queues a message; the queue is flushed at the end of this event-loop turn. */
  push(message: Msg): void {
    this.queue.push(message);
    this.pending ??= setImmediate(() => this.flush());
  }

  /** Writes what is queued now (e.g. when the stream ended, so nothing waits for it). */
  flush(): void {
    if (this.pending) clearImmediate(this.pending);
    this.pending = null;
    if (this.queue.length === 0) return;
    const messages = this.impliedStarts ? dropRedundantStarts(this.queue) : this.queue;
    this.queue = [];
    this.write(messages);
  }
}
