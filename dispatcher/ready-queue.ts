import { MAX_PRIORITY } from "../domain/task/index.ts";

/** What the queue needs to know of a ready task to match it. */
export interface ReadyTask {
  taskId: string;
  /** The task's tenant; absent: `default`. */
  namespace?: string;
  type: string;
  priority: number;
  requires: Record<string, string>;
  concurrencyKey: string | null;
  /** The limit the task declares for its key (an operator's override wins). */
  concurrencyLimit?: number;
}

/** What a worker offers: the types it handles and its labels. */
export interface Capabilities {
  types: ReadonlySet<string>;
  labels: Readonly<Record<string, string>>;
  /** The namespaces whose tasks it may run (its API key's); absent or null: every one. */
  namespaces?: ReadonlySet<string> | null;
}

/** Whether a worker may run a task of `namespace` (docs/security.md). */
function admits(worker: Capabilities, namespace: string | undefined): boolean {
  return !worker.namespaces || worker.namespaces.has(namespace ?? "default");
}

/** Limits a take must respect: a type may be out of rate tokens, a task's concurrency key full. */
export interface TakeFilter {
  /** Whether the queue may still be dispatched from now (rate limit). */
  typeOpen(type: string): boolean;
  /** Whether this task may start now (concurrency key). */
  taskOpen(task: ReadyTask): boolean;
}

const OPEN: TakeFilter = { typeOpen: () => true, taskOpen: () => true };

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
  /** Counts the items among the first `limit` that satisfy `accept`, stopping at `cap`. */
  count(accept: (item: T) => boolean, limit: number, cap: number): number {
    const end = Math.min(this.items.length, this.head + limit);
    let found = 0;
    for (let i = this.head; i < end && found < cap; i++) if (accept(this.items[i]!)) found++;
    return found;
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
 * Ready tasks by priority and type, FIFO within a priority, served most urgent first — with aging
 * by count, so that no priority starves.
 *
 * Each non-empty level p counts the dispatches of more urgent levels made since its head task
 * reached the head (`passed[p]`). Once that count reaches the level's bound K_p, the level is
 * overdue and is served before any strict-priority choice. Several levels can be overdue at once;
 * they are served most-overdue first, one dispatch each, so the head of level p is dispatched
 * within K_p + 9 dispatches of more urgent work (9 = the other levels that may be overdue too), and
 * a task with n tasks ahead of it in its level within (n + 1)(K_p + 9). Lower levels make progress
 * at no less than 1/(K_p + 10) of the dispatch rate however hard the higher levels are flooded.
 * The bound counts dispatches, not time, so it holds at any load. Tests: ready-queue.unit.spec.ts
 * (a property over random arrivals) and dispatcher/fairness.int.spec.ts (a flood of priority 9).
 */
export class ReadyQueue {
  private readonly byType = new Map<string, Fifo<ReadyTask>[]>();
  private readonly depth = new Array<number>(MAX_PRIORITY + 1).fill(0);
  private readonly passed = new Array<number>(MAX_PRIORITY + 1).fill(0);
  private readonly agingBound: readonly number[];
  private count = 0;
  private turn = 0;
  /** How far down a level to look for a task whose labels and limits match, per type and take. */
  private readonly scanLimit: number;

  constructor(
    agingBound: readonly number[] = new Array<number>(MAX_PRIORITY + 1).fill(DEFAULT_AGING_BOUND),
    scanLimit = 256,
  ) {
    this.agingBound = agingBound;
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
   * Removes and returns the task the worker should run next: an overdue level's head first, else the
   * most urgent task it can run (its types, every required label, within the limits). Within a
   * priority the worker's types take turns. Entries `isCurrent` no longer vouches for are dropped.
   */
  take(
    worker: Capabilities,
    isCurrent: (task: ReadyTask) => boolean,
    filter: TakeFilter = OPEN,
  ): ReadyTask | undefined {
    const types = [...worker.types];
    const turn = this.turn++;
    const overdue: number[] = [];
    for (let p = 0; p <= MAX_PRIORITY; p++)
      if (this.depth[p]! > 0 && this.passed[p]! >= this.agingBound[p]!) overdue.push(p);
    overdue.sort(
      (a, b) => this.passed[b]! - this.agingBound[b]! - (this.passed[a]! - this.agingBound[a]!) || a - b,
    );
    const order = [...overdue];
    for (let p = MAX_PRIORITY; p >= 0; p--) if (!overdue.includes(p)) order.push(p);
    for (const priority of order) {
      const task = this.takeFromLevel(priority, types, turn, worker, isCurrent, filter);
      if (task) {
        this.served(priority);
        return task;
      }
    }
    return undefined;
  }

  /**
   * How many ready tasks the worker could take now (at most `cap`), and the most urgent priority
   * among them (-1 when none): what a partition tells the worker's host it wants.
   */
  peek(
    worker: Capabilities,
    isCurrent: (task: ReadyTask) => boolean,
    filter: TakeFilter = OPEN,
    cap = Number.POSITIVE_INFINITY,
  ): { count: number; priority: number } {
    let count = 0;
    let priority = -1;
    for (let p = MAX_PRIORITY; p >= 0 && count < cap; p--) {
      if (this.depth[p] === 0) continue;
      for (const type of worker.types) {
        const level = this.byType.get(type)?.[p];
        if (!level || level.size === 0 || !filter.typeOpen(type)) continue;
        const found = level.count(
          (c) => isCurrent(c) && satisfies(c.requires, worker.labels) && filter.taskOpen(c),
          this.scanLimit,
          cap - count,
        );
        if (found > 0 && priority < 0) priority = p;
        count += found;
        if (count >= cap) break;
      }
    }
    return { count, priority };
  }

  private takeFromLevel(
    priority: number,
    types: string[],
    turn: number,
    worker: Capabilities,
    isCurrent: (task: ReadyTask) => boolean,
    filter: TakeFilter,
  ): ReadyTask | undefined {
    if (this.depth[priority] === 0) return undefined;
    for (let t = 0; t < types.length; t++) {
      const type = types[(turn + t) % types.length]!;
      const level = this.byType.get(type)?.[priority];
      if (!level || level.size === 0 || !filter.typeOpen(type)) continue;
      for (;;) {
        const task = level.takeFirst(
          (c) =>
            !isCurrent(c) ||
            (satisfies(c.requires, worker.labels) && admits(worker, c.namespace) && filter.taskOpen(c)),
          this.scanLimit,
        );
        if (!task) break;
        this.depth[priority]!--;
        this.count--;
        if (this.depth[priority] === 0) this.passed[priority] = 0;
        if (isCurrent(task)) return task;
      }
    }
    return undefined;
  }

  /**
   * Dispatches made from other partitions to a worker that could have taken this queue's tasks
   * (counts per priority, from the worker's host): they count as passing over every waiting level
   * less urgent than them, as this queue's own dispatches do.
   */
  passedElsewhere(counts: readonly number[]): void {
    for (let r = 0; r < counts.length && r <= MAX_PRIORITY; r++) {
      const n = counts[r] ?? 0;
      if (n <= 0) continue;
      for (let p = 0; p < r; p++) if (this.depth[p]! > 0) this.passed[p]! += n;
    }
  }

  /** A dispatch from `priority`: its next head starts counting afresh; every waiting lower level was passed over once more. */
  private served(priority: number): void {
    this.passed[priority] = 0;
    for (let p = 0; p < priority; p++) if (this.depth[p]! > 0) this.passed[p]!++;
  }
}

/** Default K_p: every level is served at least once per 20 dispatches of more urgent work. */
export const DEFAULT_AGING_BOUND = 20;
