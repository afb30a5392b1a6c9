import type { FastifyInstance } from "fastify";
import type { RedisClient } from "../event-store/redis-client.ts";
import type pg from "pg";
import type { EventLog } from "../event-store/event-log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { TaskCommands } from "../commands/task-commands.ts";
import type { TasksProjector } from "../projections/tasks-projector.ts";
import type { SchedulesProjector } from "../projections/schedules/schedules-projector.ts";
import type { ScheduleCommands } from "../commands/schedules/schedule-commands.ts";
import { ProjectionStalledError } from "../projections/poison.ts";
import { originAllowed, sameOrigin, type OriginPolicy } from "../commands/http/origins.ts";
import type { Logger } from "../observability/log.ts";
import type { Principal } from "../auth/principal.ts";
import type { QueueSettingsStore } from "../queues/queue-settings.ts";

export interface ReadSide {
  projector: TasksProjector | null;
  schedulesProjector: SchedulesProjector | null;
}

/** Starts the projector that folds the schedule stream into the schedules read model. */
export async function startSchedulesProjector(deps: {
  store: EventLog;
  redis: RedisClient;
  pool: pg.Pool;
  metrics: Metrics;
  log: Logger;
}): Promise<SchedulesProjector> {
  const { SchedulesProjector } = await import("../projections/schedules/schedules-projector.ts");
  const { scheduleStore } = await import("../event-store/schedule-store.ts");
  const projector = new SchedulesProjector({
    store: scheduleStore(deps.redis, deps.store.prefix),
    pool: deps.pool,
  });
  await projector.start();
  return projector;
}

/**
 * Reports a projector's errors loudly: a partition stopped at a poison event is an error with the
 * event's position; a transient failure (retried) a warning. Both are counted.
 */
function reportProjectorError(log: Logger, metrics: Metrics, projector: string, error: unknown): void {
  if (error instanceof ProjectionStalledError) {
    metrics.projectionErrors.inc({ projector, kind: "poison" });
    log.error({ err: error, ...error.stall, projector }, "projection stopped at an event it cannot apply");
    return;
  }
  metrics.projectionErrors.inc({ projector, kind: "transient" });
  log.warn({ err: error, projector }, "projection batch failed; retrying");
}

/** Starts the projector that folds the log into PostgreSQL, feeding its lag, errors and backlog to the metrics. */
export async function startProjector(deps: {
  store: EventLog;
  redis: RedisClient;
  pool: pg.Pool;
  metrics: Metrics;
  log: Logger;
}): Promise<TasksProjector> {
  const { TasksProjector } = await import("../projections/tasks-projector.ts");
  const projector: TasksProjector = new TasksProjector({
    store: deps.store,
    redis: deps.redis,
    pool: deps.pool,
    onBatch: (events: number, lagMs: number) => {
      deps.metrics.projectedEvents.inc(events);
      deps.metrics.projectionLag.observe(lagMs / 1000);
    },
    onError: (error) => {
      reportProjectorError(deps.log, deps.metrics, "tasks", error);
      deps.metrics.stalledPartitions.set({ projector: "tasks" }, projector.stalled().length);
    },
  });
  await projector.start();
  const { projectionBacklogAgeSeconds } = await import("../projections/backlog-age.ts");
  deps.metrics.projectionBacklog.age = () =>
    projectionBacklogAgeSeconds(deps.store, deps.pool, projector.checkpointKey);
  return projector;
}

/** Registers GraphQL at /graphql (GraphiQL when asked), served from the read model. */
export async function registerReadApi(
  app: FastifyInstance,
  deps: {
    pool: pg.Pool;
    redis: RedisClient;
    store: EventLog;
    graphiql: boolean;
    origins: OriginPolicy;
    commands?: TaskCommands;
    scheduleCommands?: ScheduleCommands;
    authenticate: (authorization: string | undefined) => Promise<Principal>;
    queueSettings?: QueueSettingsStore;
  },
): Promise<void> {
  const { readApiPlugin } = await import("../read-api/plugin.ts");
  const { taskFromLog } = await import("../read-api/log-fallback.ts");
  // A task the projector has not reached yet is answered from the log: no "not found" right after submit.
  await app.register(readApiPlugin, {
    pool: deps.pool,
    redis: deps.redis,
    prefix: deps.store.prefix,
    graphiql: deps.graphiql,
    allowOrigin: (origin: string, host: string | undefined) =>
      sameOrigin(origin, host) || originAllowed(origin, deps.origins),
    getTaskFromLog: taskFromLog(deps.store),
    commands: deps.commands,
    scheduleCommands: deps.scheduleCommands,
    authenticate: deps.authenticate,
    partitions: deps.store.partitions,
    queueSettings: deps.queueSettings,
  });
}
