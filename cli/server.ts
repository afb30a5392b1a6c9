import { readFileSync } from "node:fs";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { Server, ServerCredentials, type Metadata } from "@grpc/grpc-js";
import pg from "pg";
import { Etcd3 } from "etcd3";
import { RedisEventLog } from "../event-store/redis-event-log.ts";
import { connectRedis } from "../event-store/redis-client.ts";
import { TaskCommands } from "../commands/task-commands.ts";
import { httpErrorHandler, notFoundHandler } from "../commands/http/errors.ts";
import { httpSecurity } from "../commands/http/security.ts";
import { API_REFERENCE_PATH, registerOpenApi } from "../commands/http/openapi/plugin.ts";
import { taskRoutes } from "../commands/http/task-routes.ts";
import { taskService } from "../commands/grpc/task-service.ts";
import { Dispatcher } from "../dispatcher/dispatcher.ts";
import { PeerServiceService } from "../proto/gen/taskstream/cluster/v1/peers.ts";
import { QueueSettingsStore } from "../queues/queue-settings.ts";
import { Admission } from "../queues/admission.ts";
import { limitsService, queueRoutes } from "../commands/queues/queue-routes.ts";
import { LimitsServiceService } from "../proto/gen/taskstream/v1/limits.ts";
import { TaskServiceService } from "../proto/gen/taskstream/v1/tasks.ts";
import { WorkerServiceService } from "../proto/gen/taskstream/v1/workers.ts";
import { createMetrics, type Metrics } from "../observability/metrics.ts";
import { createLogger } from "../observability/log.ts";
import { RequestLogController } from "../observability/http-requests.ts";
import type { Logger as Pino } from "pino";
import { healthRoutes, type ReadinessCheck } from "../observability/health.ts";
import { GrpcHealth, serviceName } from "../observability/grpc-health.ts";
import { addReflection, reflectionService } from "../commands/grpc/reflection.ts";
import { startProjector, startSchedulesProjector, registerReadApi, type ReadSide } from "./read-side.ts";
import { ScheduleCommands } from "../commands/schedules/schedule-commands.ts";
import { scheduleStore } from "../event-store/schedule-store.ts";
import { scheduleRoutes } from "../commands/schedules/routes.ts";
import { scheduleService } from "../commands/schedules/grpc-service.ts";
import { Scheduler } from "../dispatcher/schedules/scheduler.ts";
import { ScheduleServiceService } from "../proto/gen/taskstream/v1/schedules.ts";
import { checkAuthExposure, type Config } from "./config.ts";
import { ReadModelRetention } from "../projections/retention.ts";
import { listTasks, type TaskListQuery } from "../read-api/queries/task-list.ts";
import { ArchiveStore } from "../event-store/archive/archive-store.ts";
import { Archiver } from "../event-store/archive/archiver.ts";
import { TaskHistory } from "../event-store/history.ts";
import { KeyStore } from "../auth/key-store.ts";
import { Authenticator } from "../auth/authenticator.ts";
import { grpcPrincipal } from "../auth/grpc.ts";
import { httpAuthentication } from "../auth/http.ts";
import { loadTls, type TlsFiles } from "./tls.ts";

/** A running Taskstream process: its roles, its listeners, and how to stop it. */
export interface RunningServer {
  config: Config;
  http: FastifyInstance;
  httpUrl: string;
  grpcAddress: string;
  store: RedisEventLog;
  /** The process's PostgreSQL pool (the read model). */
  pool: pg.Pool;
  metrics: Metrics;
  dispatcher: Dispatcher | null;
  readSide: ReadSide | null;
  /** The gRPC health service's statuses (grpc.health.v1). */
  health: GrpcHealth;
  /** Who may call: API keys in PostgreSQL when authentication is required. */
  authenticator: Authenticator;
  keys: KeyStore;
  /** Where /metrics is served when it has a port of its own (null otherwise). */
  metricsUrl: string | null;
  close(): Promise<void>;
}

/**
 * Paths anyone may reach: liveness, readiness, the API's description (the OpenAPI document and its
 * reference page say only what the public contract is), the GraphiQL page and the console (their
 * queries authenticate). docs/security.md lists them.
 */
function isPublicPath(path: string): boolean {
  // The console's, GraphiQL's and the reference's pages are static: the calls they send authenticate.
  return (
    path === "/healthz" ||
    path === "/readyz" ||
    path === "/openapi.json" ||
    path === API_REFERENCE_PATH ||
    path.startsWith(`${API_REFERENCE_PATH}/`) ||
    path === "/graphiql" ||
    path.startsWith("/graphiql/") ||
    path === "/ui" ||
    path.startsWith("/ui/")
  );
}

/**
 * Starts the configured roles in this process: one HTTP listener and one gRPC listener shared by all.
 * Logs through `log` (default: a logger made from the config's level and format), one child per component.
 */
export async function startServer(
  config: Config,
  log: Pino = createLogger({ level: config.logLevel, format: config.logFormat }),
): Promise<RunningServer> {
  checkAuthExposure(config);
  const component = (name: string) => log.child({ component: name });
  // Typed as Fastify's logger, so the instance keeps Fastify's default logger type.
  const httpLog: FastifyBaseLogger = component("http");
  const redis = connectRedis(config.redisUrl, {
    cluster: config.redisCluster,
    enableAutoPipelining: true,
    maxRetriesPerRequest: null,
  });
  const pool = new pg.Pool({ connectionString: config.pgUrl, max: 10 });
  const etcd = config.roles.has("dispatcher") ? new Etcd3({ hosts: config.etcdEndpoints }) : null;
  const store = new RedisEventLog(redis, {
    partitions: config.partitions,
    prefix: config.prefix,
    dedupWindowMs: config.dedupWindowMs,
    waitReplicas: config.redisWaitReplicas,
    waitTimeoutMs: config.redisWaitTimeoutMs,
  });
  await store.checkLayout();
  const metrics = createMetrics();
  const keys = new KeyStore(pool);
  const authenticator = new Authenticator({
    mode: config.auth,
    keys: config.auth === "required" ? keys : null,
  });
  const authenticate = (metadata: Metadata) => grpcPrincipal(authenticator, metadata);
  const tls: TlsFiles | null = await loadTls(config);
  // Fastify's type follows its server (http or https); the rest of the program sees one shape.
  const http = Fastify({
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    loggerInstance: httpLog,
    logController: new RequestLogController(),
    bodyLimit: config.maxPayloadBytes + 64 * 1024,
    // A bad URL or an over-long path parameter: answered in the error shape of every other refusal.
    frameworkErrors: (error, _request, reply) => void httpErrorHandler(error, _request, reply),
  }) as unknown as FastifyInstance;
  http.setErrorHandler(httpErrorHandler);
  http.setNotFoundHandler(notFoundHandler);
  const origins = { allowed: config.corsOrigins, allowLoopback: config.allowLoopbackOrigins };
  await http.register(httpSecurity, origins);
  // Before any route: the OpenAPI document collects the routes as they are registered (docs/apis.md).
  await registerOpenApi(http, packageVersion());
  await http.register(httpAuthentication, { authenticator, isPublic: isPublicPath });
  const grpc = new Server({
    "grpc.max_receive_message_length": Math.max(config.maxPayloadBytes, config.maxResultBytes) + 64 * 1024,
  });
  const checks: ReadinessCheck[] = [
    { name: "redis", check: async () => void (await redis.ping()) },
    { name: "redis-memory", check: () => store.checkWritable() },
  ];
  const closers: (() => Promise<unknown>)[] = [];
  const settings = new QueueSettingsStore(redis, config.prefix);
  const schedules = scheduleStore(redis, config.prefix, {
    waitReplicas: config.redisWaitReplicas,
    waitTimeoutMs: config.redisWaitTimeoutMs,
  });
  const admission = new Admission(redis, config.prefix, config.partitions, settings, config.maxBacklog, () =>
    metrics.admissionRejected.inc(),
  );

  // The archive of finished tasks' events (docs/retention-and-archive.md): read by every history.
  const archive = new ArchiveStore(pool);
  let commands: TaskCommands | undefined;
  let scheduleCommands: ScheduleCommands | undefined;
  if (config.roles.has("api")) {
    commands = new TaskCommands(
      store,
      { maxPayloadBytes: config.maxPayloadBytes },
      {
        onSubmitted: (_spec, deduplicated) => (deduplicated ? metrics.deduplicated : metrics.submitted).inc(),
        settings,
        admission,
        history: new TaskHistory(store, archive),
      },
    );
    scheduleCommands = new ScheduleCommands(schedules, commands);
    await http.register(taskRoutes(commands));
    await http.register(scheduleRoutes(scheduleCommands));
    grpc.addService(ScheduleServiceService, scheduleService(scheduleCommands, authenticate));
    await http.register(queueRoutes(settings));
    const listing = config.roles.has("read-api") || config.roles.has("projector") ? pool : null;
    grpc.addService(
      TaskServiceService,
      taskService(
        commands,
        authenticate,
        listing ? (query) => listTasks(listing, query as TaskListQuery) : undefined,
      ),
    );
    grpc.addService(LimitsServiceService, limitsService(settings, authenticate));
  }

  let dispatcher: Dispatcher | null = null;
  if (etcd) {
    // Firings are submitted like a producer's tasks (validated, admitted, deduplicated by their key);
    // a dispatcher-only process has no `commands`, so it gets a command layer of its own.
    const firingCommands =
      commands ??
      new TaskCommands(store, { maxPayloadBytes: config.maxPayloadBytes }, { settings, admission });
    dispatcher = new Dispatcher({
      store,
      redis,
      etcd,
      etcdPrefix: `/taskstream/${config.prefix}/`,
      leaseTtlSeconds: config.leaseTtlSeconds,
      config,
      metrics: metrics.dispatcher,
      log: component("dispatcher"),
      settings,
      authenticator,
      scheduler: new Scheduler({
        store: schedules,
        tasks: firingCommands,
        log: component("scheduler"),
        snapshotIntervalMs: config.snapshotIntervalMs,
      }),
    });
    grpc.addService(WorkerServiceService, dispatcher.workerService());
    grpc.addService(PeerServiceService, dispatcher.peerService());
    const leader = dispatcher;
    checks.push({
      name: "dispatcher-partitions",
      check: async () =>
        void (
          leader.leading || fail("not ready: not a member, or a partition it should own is not leading yet")
        ),
    });
    closers.push(() => leader.stop());
  }

  let readSide: ReadSide | null = null;
  if (config.roles.has("projector") || config.roles.has("read-api")) {
    checks.push({ name: "postgres", check: async () => void (await pool.query("select 1")) });
    readSide = { projector: null, schedulesProjector: null };
    if (config.roles.has("projector")) {
      readSide.projector = await startProjector({ store, redis, pool, metrics, log: component("projector") });
      const projector = readSide.projector;
      closers.push(() => projector.stop());
      const archiver = new Archiver({
        log: store,
        archive,
        pool,
        retentionMs: config.retentionMs,
        archiveRetentionDays: config.archiveRetentionDays,
        intervalMs: config.archiveIntervalMs,
        logger: component("archiver"),
        onArchived: (tasks) => metrics.archivedTasks.inc(tasks),
      });
      archiver.start();
      closers.push(() => archiver.stop());
      checks.push({
        name: "projector",
        check: async () => {
          const stalled = projector.stalled();
          if (stalled.length > 0)
            fail(
              stalled
                .map(
                  (s) => `partition ${s.partition} stopped at ${s.streamId} (task ${s.taskId}): ${s.error}`,
                )
                .join("; "),
            );
        },
      });
      const schedulesProjector = await startSchedulesProjector({
        store,
        redis,
        pool,
        metrics,
        log: component("projector"),
      });
      readSide.schedulesProjector = schedulesProjector;
      closers.push(() => schedulesProjector.stop());
      const retention = new ReadModelRetention({
        pool,
        analyticsRetentionMs: config.analyticsRetentionHours * 3_600_000,
        feedRetentionMs: config.feedRetentionHours * 3_600_000,
        onError: (error) => http.log.warn({ err: error }, "read-model retention failed; retrying later"),
      });
      retention.start();
      closers.push(() => retention.stop());
    }
    if (config.roles.has("read-api")) {
      // Its own pool: a slow GraphQL query can neither hold the projector's connections nor run
      // past the request's time limit inside PostgreSQL.
      const readPool = new pg.Pool({ connectionString: config.pgUrl, max: 10, statement_timeout: 10_000 });
      closers.push(() => readPool.end());
      await registerReadApi(http, {
        pool: readPool,
        redis,
        store,
        graphiql: config.graphiql,
        origins,
        commands,
        scheduleCommands,
        authenticate: (authorization) => authenticator.authenticate(authorization),
        queueSettings: settings,
      });
    }
  }

  const recordCheck = (check: string, ok: boolean) => metrics.readinessCheck.set({ check }, ok ? 1 : 0);
  await http.register(
    healthRoutes(metrics.registry, checks, recordCheck, {
      metrics: config.metricsPort !== null ? "none" : config.auth === "required" ? "admin" : "public",
    }),
  );
  // /metrics on a port of its own: scraped without a key, reachable only where that port is.
  let metricsUrl: string | null = null;
  if (config.metricsPort !== null) {
    const metricsHttp = Fastify({ logger: false });
    await metricsHttp.register(healthRoutes(metrics.registry, checks, recordCheck));
    metricsUrl = await metricsHttp.listen({ host: config.host, port: config.metricsPort });
    closers.push(() => metricsHttp.close());
  }
  // Discovery (docs/apis.md): the health service over the same readiness as /readyz, each public
  // service gated by the checks it needs, and reflection over the public contract only. Health
  // answers without a key (Kubernetes probes carry none); reflection takes a key like every other
  // service when authentication is required (docs/security.md).
  const health = new GrpcHealth(checks, { record: recordCheck });
  const writable = ["redis", "redis-memory"];
  const publicServices = [
    ...(config.roles.has("api")
      ? [TaskServiceService, ScheduleServiceService, LimitsServiceService].map((d) => [d, writable] as const)
      : []),
    ...(dispatcher ? [[WorkerServiceService, [...writable, "dispatcher-partitions"]] as const] : []),
  ].map(([definition, needs]) => {
    health.serve(serviceName(definition), needs);
    return serviceName(definition);
  });
  health.addToServer(grpc);
  addReflection(grpc, reflectionService([...publicServices, "grpc.health.v1.Health"]), authenticate);
  health.start();
  closers.push(async () => health.stop());
  const grpcCredentials = tls
    ? ServerCredentials.createSsl(
        tls.clientCa,
        [{ private_key: tls.key, cert_chain: tls.cert }],
        tls.clientCa !== null,
      )
    : ServerCredentials.createInsecure();
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync(`${config.host}:${config.grpcPort}`, grpcCredentials, (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
  const httpUrl = await http.listen({ host: config.host, port: config.httpPort });
  const grpcAddress = `${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${grpcPort}`;
  if (dispatcher) {
    // The member id must be reachable by the other dispatchers: the real port when port 0 was asked for.
    await dispatcher.start(config.advertiseAddress.endsWith(":0") ? grpcAddress : config.advertiseAddress);
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    http,
    httpUrl: httpUrl.replace("0.0.0.0", "127.0.0.1"),
    grpcAddress,
    store,
    pool,
    metrics,
    dispatcher,
    readSide,
    health,
    authenticator,
    keys,
    metricsUrl: metricsUrl?.replace("0.0.0.0", "127.0.0.1") ?? null,
    close() {
      closing ??= (async () => {
        await Promise.allSettled(closers.map((close) => close()));
        await new Promise<void>((resolve) => grpc.tryShutdown(() => resolve()));
        await http.close();
        etcd?.close();
        await pool.end();
        redis.disconnect();
      })();
      return closing;
    },
  };
}

/** The server's version, for the OpenAPI document. */
function packageVersion(): string {
  const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

function fail(message: string): never {
  throw new Error(message);
}
