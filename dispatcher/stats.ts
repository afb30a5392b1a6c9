import type { Redis } from "ioredis";
import type { TaskState } from "../domain/task/index.ts";
import { backlogKey } from "../commands/queues/backlog.ts";
import { satisfies } from "./ready-queue.ts";
import type { WorkerSession } from "./worker-session.ts";

/** What the leader reports once a second: backlog per queue, tasks no worker can run, live workers. */
export interface DispatchStats {
  at: string;
  epoch: number;
  /** Waiting tasks (due or delayed) per task type: the admission limit is checked against this. */
  backlogByType: Record<string, number>;
  /** Due tasks that no connected worker can run (no worker with their type and every required label). */
  unroutable: number;
  queueDepthByPriority: number[];
  workers: {
    id: string;
    name: string;
    types: string[];
    labels: Record<string, string>;
    slots: number;
    busy: number;
    connected: boolean;
  }[];
}

/** Each spec's `requires` as text, computed once per spec object (stats run every second over every task). */
const requiresKeys = new WeakMap<object, string>();
function requiresKey(requires: Record<string, string>): string {
  let key = requiresKeys.get(requires);
  if (key === undefined) {
    key = JSON.stringify(requires);
    requiresKeys.set(requires, key);
  }
  return key;
}

export function computeStats(
  epoch: number,
  states: ReadonlyMap<string, TaskState>,
  sessions: Iterable<WorkerSession>,
  depth: readonly number[],
  now: number,
): DispatchStats {
  const live = [...sessions];
  const backlogByType: Record<string, number> = {};
  const routable = new Map<string, boolean>();
  let unroutable = 0;
  for (const state of states.values()) {
    if (state.status !== "QUEUED" || state.spec === null) continue;
    const { type, requires } = state.spec;
    backlogByType[type] = (backlogByType[type] ?? 0) + 1;
    if ((state.availableAt ?? 0) > now) continue;
    const shape = `${type}\u0000${requiresKey(requires)}`;
    let ok = routable.get(shape);
    if (ok === undefined) {
      ok = live.some((s) => s.stream !== null && s.types.has(type) && satisfies(requires, s.labels));
      routable.set(shape, ok);
    }
    if (!ok) unroutable++;
  }
  return {
    at: new Date(now).toISOString(),
    epoch,
    backlogByType,
    unroutable,
    queueDepthByPriority: [...depth],
    workers: live.map((s) => ({
      id: s.id,
      name: s.info.name,
      types: s.info.types,
      labels: s.info.labels,
      slots: s.info.slots,
      busy: s.attempts.size,
      connected: s.stream !== null,
    })),
  };
}

/** Where the leader publishes its stats (JSON, expiring when no leader refreshes it). */
export function statsKey(prefix: string): string {
  return `${prefix}:dispatcher-stats`;
}

export async function publishStats(redis: Redis, prefix: string, stats: DispatchStats): Promise<void> {
  const counts = Object.entries(stats.backlogByType).flat();
  const multi = redis.multi().del(backlogKey(prefix));
  if (counts.length > 0) multi.hset(backlogKey(prefix), ...counts.map(String));
  await multi.set(statsKey(prefix), JSON.stringify(stats), "PX", 5000).exec();
}
