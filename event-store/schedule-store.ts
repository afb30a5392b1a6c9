import type { RedisClient } from "./redis-client.ts";
import type { ScheduleEvent } from "../domain/schedule/index.ts";
import type { StoredOf } from "./event-log.ts";
import { RedisEventLog, type EventStoreOptions } from "./redis-event-log.ts";

/** The schedules' event log: one stream of its own, apart from the task partitions. */
export type ScheduleStore = RedisEventLog<ScheduleEvent>;

/** A schedule event as read back from the log; `taskId` is the schedule's id (the store's aggregate id). */
export type StoredScheduleEvent = StoredOf<ScheduleEvent>;

/**
 * The schedule store for a key prefix: `${prefix}:sched:{p0}:…`. One partition keeps every schedule
 * in one stream, so a reader folds them all in log order and one fencing epoch key guards them; the
 * task projector and the dispatcher, which read the task partitions, never see these events.
 */
export function scheduleStore(
  redis: RedisClient,
  prefix: string,
  replication: Pick<EventStoreOptions, "waitReplicas" | "waitTimeoutMs"> = {},
): ScheduleStore {
  return new RedisEventLog<ScheduleEvent>(redis, {
    partitions: 1,
    prefix: `${prefix}:sched`,
    intake: false,
    ...replication,
  });
}

/** The only partition of the schedule store. */
export const SCHEDULE_PARTITION = 0;
