import { MAX_PRIORITY } from "../domain/task/index.ts";

/** What the queue needs to know of a ready task to match it. */
export interface ReadyTask {
  taskId: string;
  type: string;
  priority: number;
  requires: Record<string, string>;
}

/** What a worker offers: the types it handles and its labels. */
export interface Capabilities {
  types: ReadonlySet<string>;
  labels: Readonly<Record<string, string>>;
}

/** A FIFO with O(1) push and shift (an array with a moving head, compacted now and then). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  /** Removes and returns the first item that satisfies `accept`, scanning at most `limit` items. */
  takeFirst(accept: (item: T) => boolean, limit: number): T | undefined {
    const end = Math.min(this.items.length, this.head + limit);
    for (let i = this.head; i < end; i++) {
      const item = this.items[i]!;
      if (!accept(item)) continue;
      if (i === this.head) this.head++;
      else this.items.splice(i, 1);
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return item;
    }
    return undefined;
  }
}

export function satisfies(
  requires: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const [key, value] of Object.entries(requires)) if (labels[key] !== value) return false;
  return true;
}

/**
 * Ready tasks by type and priority, FIFO within a priority. `take` gives a worker the most urgent
 * task it can run: its types, and every label the task requires.
 */
export class ReadyQueue {
  private readonly byType = new Map<string, Fifo<ReadyTask>[]>();
  private readonly depth = new Array<number>(MAX_PRIORITY + 1).fill(0);
  private count = 0;
  private turn = 0;
  /** How far down a priority level to look for a task whose labels match, per take. */
  private readonly scanLimit: number;

  constructor(scanLimit = 256) {
    this.scanLimit = scanLimit;
  }

  get size(): number {
    return this.count;
  }

  /** Ready tasks per priority level (index = priority). */
  depthByPriority(): readonly number[] {
    return this.depth;
  }

  push(task: ReadyTask): void {
    let levels = this.byType.get(task.type);
    if (!levels) {
      levels = Array.from({ length: MAX_PRIORITY + 1 }, () => new Fifo<ReadyTask>());
      this.byType.set(task.type, levels);
    }
    levels[task.priority]!.push(task);
    this.depth[task.priority]!++;
    this.count++;
  }

  /**
   * Removes and returns the most urgent task the worker can run. Within a priority the worker's
   * types take turns, so one busy type cannot hold back another. Entries that `isCurrent` no longer
   * vouches for (cancelled, already dispatched) are dropped as they surface.
   */
  take(worker: Capabilities, isCurrent: (task: ReadyTask) => boolean): ReadyTask | undefined {
    const types = [...worker.types];
    const turn = this.turn++;
    for (let priority = MAX_PRIORITY; priority >= 0; priority--) {
      for (let t = 0; t < types.length; t++) {
        const level = this.byType.get(types[(turn + t) % types.length]!)?.[priority];
        while (level && level.size > 0) {
          const task = level.takeFirst(
            (c) => !isCurrent(c) || satisfies(c.requires, worker.labels),
            this.scanLimit,
          );
          if (!task) break;
          this.depth[priority]!--;
          this.count--;
          if (isCurrent(task)) return task;
        }
      }
    }
    return undefined;
  }
}
