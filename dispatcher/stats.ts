import type { TaskState } from "../domain/task/index.ts";
import type { PartitionStats } from "../queues/dispatch-stats.ts";
import { satisfies } from "./ready-queue.ts";
import type { WorkerSession } from "./worker-session.ts";

/**
 * A task's shape for routing: its type, plus its required labels when it has any, as text computed
 * once per `requires` object (stats run every second over every task; most tasks require nothing).
 */
const shapes = new WeakMap<object, string>();
function shapeOf(type: string, requires: Record<string, string>): string {
  let empty = true;
  for (const _ in requires) {
    empty = false;
    break;
  }
  if (empty) return type;
  let shape = shapes.get(requires);
  if (shape === undefined) {
    shape = `${type}\u0000${JSON.stringify(requires)}`;
    shapes.set(requires, shape);
  }
  return shape;
}

/** A partition's report: its waiting tasks by queue, and those no joined worker can run. */
export function computeStats(
  partition: number,
  epoch: number,
  /** The QUEUED tasks (any others are skipped). */
  queued: Iterable<TaskState>,
  sessions: Iterable<WorkerSession>,
  depth: readonly number[],
  now: number,
): PartitionStats {
  const live = [...sessions];
  const backlogByType: Record<string, number> = {};
  const dueByType: Record<string, number> = {};
  const oldestDueAtByType: Record<string, number> = {};
  const routable = new Map<string, boolean>();
  let unroutable = 0;
  for (const state of queued) {
    if (state.state !== "QUEUED" || state.spec === null) continue;
    const { type, requires } = state.spec;
    backlogByType[type] = (backlogByType[type] ?? 0) + 1;
    const dueAt = state.availableAt ?? 0;
    if (dueAt > now) continue;
    dueByType[type] = (dueByType[type] ?? 0) + 1;
    if (dueAt < (oldestDueAtByType[type] ?? Number.POSITIVE_INFINITY)) oldestDueAtByType[type] = dueAt;
    const shape = shapeOf(type, requires);
    let ok = routable.get(shape);
    if (ok === undefined) {
      ok = live.some((s) => s.stream !== null && s.types.has(type) && satisfies(requires, s.labels));
      routable.set(shape, ok);
    }
    if (!ok) unroutable++;
  }
  return {
    at: new Date(now).toISOString(),
    partition,
    epoch,
    backlogByType,
    dueByType,
    oldestDueAtByType,
    unroutable,
    queueDepthByPriority: [...depth],
  };
}
