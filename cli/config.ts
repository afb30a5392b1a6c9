import { parseArgs } from "node:util";
import { ValidationError } from "../domain/task/index.ts";
import { parseOrigins } from "../commands/http/origins.ts";
import { redisUrls } from "../event-store/redis-client.ts";
import { LOG_FORMATS, LOG_LEVELS, isLogLevel, type LogFormat, type LogLevel } from "../observability/log.ts";

export const ROLES = ["api", "dispatcher", "projector", "read-api"] as const;
export type Role = (typeof ROLES)[number];

/** Everything a Taskstream process is configured with; flags win over TASKSTREAM_* variables. */
export interface Config {
  roles: Set<Role>;
  host: string;
  httpPort: number;
  grpcPort: number;
  /** The gRPC address workers should use to reach this process (the dispatcher's election value). */
  advertiseAddress: string;
  redisUrl: string;
  /** Connect to a Redis Cluster even when `redisUrl` names one seed node (several names imply it). */
  redisCluster: boolean;
  /** Replicas that must confirm each append before it is acknowledged (WAIT); 0 = off. */
  redisWaitReplicas: number;
  /** How long an append waits for them before the answer is UNAVAILABLE. */
  redisWaitTimeoutMs: number;
  pgUrl: string;
  etcdEndpoints: string[];
  partitions: number;
  prefix: string;
  dedupWindowMs: number;
  maxPayloadBytes: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  reconnectGraceMs: number;
  leaseTtlSeconds: number;
  graphiql: boolean;
  logLevel: LogLevel;
  /** `pretty` (one readable line per event) or `json`; `dev` defaults to pretty, `serve` to json. */
  logFormat: LogFormat;
  /** Per priority 0-9: dispatches of more urgent work after which a waiting level is served. */
  agingBound: number[];
  /** Admission limit on a queue's waiting tasks, unless its settings say otherwise. */
  maxBacklog: number;
  /** Most attempts one worker may run at once (its Register's slots). */
  maxWorkerSlots: number;
  /** Largest result or progress details a worker may report, in bytes of JSON. */
  maxResultBytes: number;
  /** How long after it finished a task's events stay in Redis before they move to the archive. */
  retentionMs: number;
  /** Archived days older than this are dropped; 0 keeps the archive forever. */
  archiveRetentionDays: number;
  /** Pause between the archiver's rounds. */
  archiveIntervalMs: number;
  /** How often the leading dispatcher snapshots its live tasks. */
  snapshotIntervalMs: number;
  /** Browser origins allowed to call the HTTP API cross-site (CORS, WebSocket); none by default. */
  corsOrigins: string[];
  /** Trust pages served from loopback on any port (development: `taskstream dev`). */
  allowLoopbackOrigins: boolean;
  /** `required`: every interface needs an API key; `off`: development, on loopback only. */
  auth: "required" | "off";
  /** PEM files of the server's certificate and key: HTTPS and gRPC over TLS when both are set. */
  tlsCert: string;
  tlsKey: string;
  /** PEM file of the CA whose client certificates the gRPC listener requires (mutual TLS). */
  tlsClientCa: string;
  /** Serve /metrics on this port alone, not on the HTTP port (null: on the HTTP port, for admin keys). */
  metricsPort: number | null;
  /** How long per-minute analytics are kept, in hours (docs/analytics.md). */
  analyticsRetentionHours: number;
  /** How long the task feed keeps events for readers to resume from, in hours (docs/task-feed.md). */
  feedRetentionHours: number;
}

/** Each setting: its flag, its environment variable, its default and its parser. */
const SETTINGS = {
  roles: ["TASKSTREAM_ROLES", ROLES.join(","), parseRoles],
  host: ["TASKSTREAM_HOST", "0.0.0.0", String],
  "http-port": ["TASKSTREAM_HTTP_PORT", "8080", port("http-port")],
  "grpc-port": ["TASKSTREAM_GRPC_PORT", "50051", port("grpc-port")],
  "advertise-address": ["TASKSTREAM_ADVERTISE_ADDRESS", "", String],
  "redis-url": ["TASKSTREAM_REDIS_URL", "redis://127.0.0.1:6379", redisUrl],
  "redis-cluster": ["TASKSTREAM_REDIS_CLUSTER", "false", bool("redis-cluster")],
  "redis-wait-replicas": ["TASKSTREAM_REDIS_WAIT_REPLICAS", "0", int("redis-wait-replicas", 0, 16)],
  "redis-wait-timeout-ms": [
    "TASKSTREAM_REDIS_WAIT_TIMEOUT_MS",
    "1000",
    int("redis-wait-timeout-ms", 1, 60_000),
  ],
  "pg-url": ["TASKSTREAM_PG_URL", "postgres://postgres@127.0.0.1:5432/taskstream", String],
  "etcd-endpoints": [
    "TASKSTREAM_ETCD_ENDPOINTS",
    "http://127.0.0.1:2379",
    (v: string) =>
      v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
  ],
  partitions: ["TASKSTREAM_PARTITIONS", "8", int("partitions", 1, 256)],
  prefix: ["TASKSTREAM_PREFIX", "ts", String],
  "dedup-window-ms": [
    "TASKSTREAM_DEDUP_WINDOW_MS",
    String(24 * 3600_000),
    int("dedup-window-ms", 1000, 30 * 24 * 3600_000),
  ],
  "max-payload-bytes": [
    "TASKSTREAM_MAX_PAYLOAD_BYTES",
    String(1024 * 1024),
    int("max-payload-bytes", 1024, 64 * 1024 * 1024),
  ],
  "heartbeat-interval-ms": [
    "TASKSTREAM_HEARTBEAT_INTERVAL_MS",
    "2000",
    int("heartbeat-interval-ms", 100, 60_000),
  ],
  "heartbeat-timeout-ms": [
    "TASKSTREAM_HEARTBEAT_TIMEOUT_MS",
    "10000",
    int("heartbeat-timeout-ms", 500, 600_000),
  ],
  "reconnect-grace-ms": ["TASKSTREAM_RECONNECT_GRACE_MS", "5000", int("reconnect-grace-ms", 0, 600_000)],
  "lease-ttl-seconds": ["TASKSTREAM_LEASE_TTL_SECONDS", "10", int("lease-ttl-seconds", 2, 300)],
  "priority-aging": ["TASKSTREAM_PRIORITY_AGING", "20", parseAging],
  "max-backlog": ["TASKSTREAM_MAX_BACKLOG", "1000000", int("max-backlog", 1, 1_000_000_000)],
  "retention-ms": [
    "TASKSTREAM_RETENTION_MS",
    String(7 * 24 * 3600_000),
    int("retention-ms", 0, 3650 * 24 * 3600_000),
  ],
  "archive-retention-days": [
    "TASKSTREAM_ARCHIVE_RETENTION_DAYS",
    "0",
    int("archive-retention-days", 0, 100_000),
  ],
  "archive-interval-ms": [
    "TASKSTREAM_ARCHIVE_INTERVAL_MS",
    "10000",
    int("archive-interval-ms", 100, 3600_000),
  ],
  "snapshot-interval-ms": [
    "TASKSTREAM_SNAPSHOT_INTERVAL_MS",
    "30000",
    int("snapshot-interval-ms", 100, 3600_000),
  ],
  "max-worker-slots": ["TASKSTREAM_MAX_WORKER_SLOTS", "1000", int("max-worker-slots", 1, 100_000)],
  "max-result-bytes": [
    "TASKSTREAM_MAX_RESULT_BYTES",
    String(1024 * 1024),
    int("max-result-bytes", 1024, 64 * 1024 * 1024),
  ],
  "cors-origins": ["TASKSTREAM_CORS_ORIGINS", "", origins],
  "allow-loopback-origins": [
    "TASKSTREAM_ALLOW_LOOPBACK_ORIGINS",
    "false",
    (v: string) => v === "true" || v === "1",
  ],
  "analytics-retention-hours": [
    "TASKSTREAM_ANALYTICS_RETENTION_HOURS",
    String(7 * 24),
    int("analytics-retention-hours", 1, 366 * 24),
  ],
  "feed-retention-hours": ["TASKSTREAM_FEED_RETENTION_HOURS", "24", int("feed-retention-hours", 1, 31 * 24)],
  graphiql: ["TASKSTREAM_GRAPHIQL", "false", (v: string) => v === "true" || v === "1"],
  auth: ["TASKSTREAM_AUTH", "required", parseAuth],
  "tls-cert": ["TASKSTREAM_TLS_CERT", "", String],
  "tls-key": ["TASKSTREAM_TLS_KEY", "", String],
  "tls-client-ca": ["TASKSTREAM_TLS_CLIENT_CA", "", String],
  "metrics-port": ["TASKSTREAM_METRICS_PORT", "", (v: string) => (v === "" ? null : port("metrics-port")(v))],
  "log-level": ["TASKSTREAM_LOG_LEVEL", "info", parseLogLevel],
  "log-format": ["TASKSTREAM_LOG_FORMAT", "json", parseLogFormat],
} as const;

type SettingName = keyof typeof SETTINGS;

/** Each configuration flag with its variable and default, for `--help`. */
export const CONFIG_FLAGS: { flag: string; variable: string; fallback: string }[] = Object.entries(
  SETTINGS,
).map(([flag, [variable, fallback]]) => ({ flag, variable, fallback }));

export const CONFIG_OPTIONS = Object.fromEntries(
  Object.keys(SETTINGS).map((name) => [name, { type: "string" as const }]),
) as Record<SettingName, { type: "string" }>;

/** Reads the configuration from flags (already parsed) and the environment. Bad values name their flag. */
export function loadConfig(
  flags: Partial<Record<string, string | boolean | undefined>>,
  env = process.env,
): Config {
  const value = <N extends SettingName>(name: N): ReturnType<(typeof SETTINGS)[N][2]> => {
    const [variable, fallback, parse] = SETTINGS[name];
    const raw = typeof flags[name] === "string" ? flags[name] : (env[variable] ?? fallback);
    return (parse as (v: string) => ReturnType<(typeof SETTINGS)[N][2]>)(raw);
  };
  const grpcPort = value("grpc-port");
  const host = value("host");
  const advertised = value("advertise-address");
  const auth = value("auth");
  const tlsCert = value("tls-cert");
  const tlsKey = value("tls-key");
  const tlsClientCa = value("tls-client-ca");
  if ((tlsCert === "") !== (tlsKey === ""))
    throw new ValidationError([{ field: "tls-cert", reason: "tls-cert and tls-key go together" }]);
  if (tlsClientCa !== "" && tlsCert === "")
    throw new ValidationError([
      { field: "tls-client-ca", reason: "mutual TLS needs the server's own tls-cert and tls-key" },
    ]);
  return {
    roles: value("roles"),
    host,
    httpPort: value("http-port"),
    grpcPort,
    advertiseAddress: advertised || `${host === "0.0.0.0" ? "127.0.0.1" : host}:${grpcPort}`,
    redisUrl: value("redis-url"),
    redisCluster: value("redis-cluster"),
    redisWaitReplicas: value("redis-wait-replicas"),
    redisWaitTimeoutMs: value("redis-wait-timeout-ms"),
    pgUrl: value("pg-url"),
    etcdEndpoints: value("etcd-endpoints"),
    partitions: value("partitions"),
    prefix: value("prefix"),
    dedupWindowMs: value("dedup-window-ms"),
    maxPayloadBytes: value("max-payload-bytes"),
    heartbeatIntervalMs: value("heartbeat-interval-ms"),
    heartbeatTimeoutMs: value("heartbeat-timeout-ms"),
    reconnectGraceMs: value("reconnect-grace-ms"),
    leaseTtlSeconds: value("lease-ttl-seconds"),
    graphiql: value("graphiql"),
    logLevel: value("log-level"),
    logFormat: value("log-format"),
    agingBound: value("priority-aging"),
    maxBacklog: value("max-backlog"),
    retentionMs: value("retention-ms"),
    archiveRetentionDays: value("archive-retention-days"),
    archiveIntervalMs: value("archive-interval-ms"),
    snapshotIntervalMs: value("snapshot-interval-ms"),
    maxWorkerSlots: value("max-worker-slots"),
    maxResultBytes: value("max-result-bytes"),
    corsOrigins: value("cors-origins"),
    allowLoopbackOrigins: value("allow-loopback-origins"),
    auth,
    tlsCert,
    tlsKey,
    tlsClientCa,
    metricsPort: value("metrics-port"),
    analyticsRetentionHours: value("analytics-retention-hours"),
    feedRetentionHours: value("feed-retention-hours"),
  };
}

/**
 * Refuses a configuration that would serve without authentication where others can reach it:
 * authentication may be off only on a loopback address (development).
 */
export function checkAuthExposure(config: Pick<Config, "auth" | "host">): void {
  if (config.auth === "off" && !isLoopback(config.host))
    throw new ValidationError([
      {
        field: "auth",
        reason: `may be off only on a loopback address (development), not on "${config.host}": use TASKSTREAM_AUTH=required with API keys, or TASKSTREAM_HOST=127.0.0.1`,
      },
    ]);
}

/** Whether `host` is a loopback address: only this machine can reach it. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function parseAuth(value: string): "required" | "off" {
  if (value === "required" || value === "off") return value;
  throw new ValidationError([{ field: "auth", reason: `must be required or off; got "${value}"` }]);
}

export function parseFlags(
  argv: string[],
  extra: Record<string, { type: "string" | "boolean"; short?: string }> = {},
) {
  return parseArgs({
    args: argv,
    options: { ...CONFIG_OPTIONS, ...extra },
    allowPositionals: true,
    strict: true,
  });
}

function parseRoles(value: string): Set<Role> {
  const roles = value
    .split(",")
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length > 0 || roles.length === 0) {
    throw new ValidationError([
      { field: "roles", reason: `must be a comma-separated list of ${ROLES.join(", ")}; got "${value}"` },
    ]);
  }
  return new Set(roles as Role[]);
}

function parseLogLevel(value: string): LogLevel {
  const level = value.trim().toLowerCase();
  if (isLogLevel(level)) return level;
  throw new ValidationError([
    { field: "log-level", reason: `must be one of ${LOG_LEVELS.join(", ")}; got "${value}"` },
  ]);
}

function parseLogFormat(value: string): LogFormat {
  const format = value.trim().toLowerCase();
  if ((LOG_FORMATS as readonly string[]).includes(format)) return format as LogFormat;
  throw new ValidationError([
    { field: "log-format", reason: `must be one of ${LOG_FORMATS.join(", ")}; got "${value}"` },
  ]);
}

/** One bound for every priority ("20"), or ten, for priorities 0 to 9 ("40,36,…,4"). */
function parseAging(value: string): number[] {
  const parts = value.split(",").map((v) => Number(v.trim()));
  const valid =
    (parts.length === 1 || parts.length === 10) &&
    parts.every((n) => Number.isInteger(n) && n >= 1 && n <= 1_000_000);
  if (!valid) {
    throw new ValidationError([
      {
        field: "priority-aging",
        reason: `must be one integer ≥ 1 or ten of them separated by commas; got "${value}"`,
      },
    ]);
  }
  return parts.length === 1 ? new Array<number>(10).fill(parts[0]!) : parts;
}

function int(field: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new ValidationError([
        { field, reason: `must be an integer from ${min} to ${max}; got "${value}"` },
      ]);
    return n;
  };
}

function origins(value: string): string[] {
  try {
    return parseOrigins(value);
  } catch (error) {
    throw new ValidationError([{ field: "cors-origins", reason: (error as Error).message }]);
  }
}

function bool(field: string) {
  return (value: string): boolean => {
    if (/^(1|true|yes)$/i.test(value)) return true;
    if (/^(0|false|no|)$/i.test(value)) return false;
    throw new ValidationError([{ field, reason: `must be true or false; got "${value}"` }]);
  };
}

/** One redis:// URL, or several separated by commas (the seed nodes of a cluster). */
function redisUrl(value: string): string {
  redisUrls(value);
  return value;
}

function port(field: string) {
  return int(field, 0, 65535);
}
