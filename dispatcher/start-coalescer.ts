import type { TaskCommand } from "../domain/task/index.ts";

/** How long a start report waits for its attempt's result, to be written with it. */
export const START_COALESCE_MS = 100;

/**
 * Records starts lazily, as Temporal does: a worker's start report is held for a moment; when the
 * attempt's result follows within it (most short tasks), the start is written with the result in
 * one append; otherwise `write` records it alone when the moment is over. Held per task: a newer
 * start replaces an older one.
 */
export class StartCoalescer {
  private readonly pending = new Map<string, { command: TaskCommand; timer: NodeJS.Timeout }>();
  private readonly write: (taskId: string, start: TaskCommand) => void;
  private readonly delayMs: number;

  constructor(write: (taskId: string, start: TaskCommand) => void, delayMs = START_COALESCE_MS) {
    this.write = write;
    this.delayMs = delayMs;
  }

  /** Holds a start report; written alone after the delay unless `take` claims it first. */
  hold(taskId: string, start: TaskCommand): void {
    this.take(taskId);
    const timer = setTimeout(() => {
      const held = this.take(taskId);
      if (held) this.write(taskId, held);
    }, this.delayMs);
    this.pending.set(taskId, { command: start, timer });
  }

  /** The start held for the task (to be written with its result), if any; it is no longer held. */
  take(taskId: string): TaskCommand | undefined {
    const pending = this.pending.get(taskId);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.pending.delete(taskId);
    return pending.command;
  }

  /** Drops every held start (the term is closing: the next leader learns of starts from results). */
  close(): void {
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  get size(): number {
    return this.pending.size;
  }
}
