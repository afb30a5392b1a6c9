import { setTimeout as sleep } from "node:timers/promises";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Redis } from "ioredis";
import pg from "pg";
import { forkChild, isKind, nextMessage, rssOf, stopChild } from "../proc.ts";
import type { ProducerConfig, WorkerConfig } from "../protocol.ts";
import {
  classifyTaskstreamKey,
  deletePrefix,
  memoryByClass,
  redisInfo,
  streamEntries,
} from "../redis-admin.ts";
import { readModelCounts, truncateReadModel } from "../pg-admin.ts";
import {
  bucketDelta,
  bucketQuantile,
  now,
  parseCounter,
  parseHistogram,
  summarize,
  type Buckets,
} from "../stats.ts";
import type { LagReport, MemoryReport, SystemUnderTest } from "../system.ts";
import { logHeads, waitSnapshots } from "./cluster.ts";
import {
  scrape,
  startServer,
  startServers,
  stopServers,
  type Layout,
  type ServerProcess,
} from "./servers.ts";

export interface TaskstreamOptions {
  redis: Redis;
  redisUrl: string;
  etcdEndpoints: string;
  /** The benchmark's database (truncated at every setup). */
  pgUrl: string;
  layout: Layout;
  partitions: number;
  /** A directory for --cpu-prof output of the servers and workers; null: no profiling. */
  profileDir: string | null;
  runId: string;
}

const LAG_HISTOGRAM = "taskstream_projection_lag_seconds";
let setups = 0;

/** Taskstream with every role on: api, dispatcher (owning every partition), projector into PostgreSQL, read API. */
export class TaskstreamSystem implements SystemUnderTest {
  readonly name = "taskstream" as const;
  readonly workerScript = "bench/taskstream/worker.ts";
  readonly producerScript = "bench/taskstream/producer.ts";
  readonly preloadTransport = "rest" as const;
  readonly steadyTransport = "grpc" as const;
  readonly submitTransports = { REST: "rest", gRPC: "grpc" } as const;
  label = "";
  prefix = "";
  private readonly options: TaskstreamOptions;
  private servers: ServerProcess[] = [];
  private probe: ChildProcess | null = null;
  private db: pg.Client | null = null;
  private baselineMemory = 0;
  private env: NodeJS.ProcessEnv = {};
  private lagBefore: Buckets = new Map();

  constructor(options: TaskstreamOptions) {
    this.options = options;
  }

  private server(role: "api" | "dispatcher" | "projector"): ServerProcess {
    const found = this.servers.find((s) => s.roles.includes(role));
    if (!found) throw new Error(`no process runs the ${role} role`);
    return found;
  }

  async setup(): Promise<void> {
    const { options } = this;
    this.label = `taskstream-${options.runId}-${++setups}`;
    this.prefix = `tsbench-${options.runId}-${setups}`;
    await truncateReadModel(options.pgUrl);
    this.baselineMemory = (await redisInfo(options.redis)).usedMemory;
    this.env = {
      ...process.env,
      TASKSTREAM_REDIS_URL: options.redisUrl,
      TASKSTREAM_PG_URL: options.pgUrl,
      TASKSTREAM_ETCD_ENDPOINTS: options.etcdEndpoints,
      TASKSTREAM_PARTITIONS: String(options.partitions),
      // Events only (requests log at "debug"), and the "taskstream serving" line servers.ts reads.
      TASKSTREAM_LOG_LEVEL: "info",
    };
    this.servers = await startServers({
      layout: options.layout,
      prefix: this.prefix,
      label: this.label,
      profileDir: options.profileDir,
      env: this.env,
    });
    this.db = new pg.Client({ connectionString: options.pgUrl });
    await this.db.connect();
  }

  /** The lag probe runs only where lag is measured (steady state), so it loads no other scenario. */
  private async startProbe(): Promise<ChildProcess> {
    if (this.probe) return this.probe;
    const probe = forkChild(
      "bench/taskstream/lag-probe.ts",
      { redisUrl: this.options.redisUrl, prefix: this.prefix },
      `${this.label}-lag-probe`,
    );
    this.probe = probe;
    await nextMessage(probe, isKind("ready"), 30_000, "lag probe");
    return probe;
  }

  async teardown(): Promise<void> {
    const probe = this.probe;
    this.probe = null;
    if (probe) await stopChild(probe, 5000);
    await stopServers(this.servers);
    this.servers = [];
    await this.db?.end().catch(() => undefined);
    this.db = null;
    await deletePrefix(this.options.redis, this.prefix);
  }

  workerConfig(index: number, slots: number): WorkerConfig {
    return { system: "taskstream", index, slots, dispatcherAddress: this.server("dispatcher").grpcAddress };
  }

  workerExecArgv(): string[] {
    const dir = this.options.profileDir;
    return dir ? ["--cpu-prof", `--cpu-prof-dir=${join(dir, "worker")}`] : [];
  }

  producerConfig(): ProducerConfig {
    const api = this.server("api");
    return { system: "taskstream", httpUrl: api.httpUrl, grpcAddress: api.grpcAddress };
  }

  private streamKeys(): string[] {
    return Array.from({ length: this.options.partitions }, (_, p) => `${this.prefix}:{p${p}}:events`);
  }

  /** Whether every partition's projection checkpoint has reached the end of its stream. */
  private async caughtUp(): Promise<boolean> {
    const { rows } = await this.db!.query<{ partition: number; stream_id: string }>(
      "select partition, stream_id from projection_checkpoints where projector = $1",
      [`${this.prefix}:tasks`],
    );
    const at = new Map(rows.map((r) => [r.partition, r.stream_id]));
    const redis = this.options.redis;
    const lasts = await Promise.all(
      this.streamKeys().map((key) => redis.xrevrange(key, "+", "-", "COUNT", 1)),
    );
    return lasts.every((entries, p) => {
      const last = entries[0]?.[0];
      return last === undefined || at.get(p) === last;
    });
  }

  async settle(timeoutMs: number): Promise<{ caughtUp: boolean; waitedMs: number }> {
    const start = now();
    while (now() - start < timeoutMs) {
      if (await this.caughtUp()) return { caughtUp: true, waitedMs: now() - start };
      await sleep(25);
    }
    return { caughtUp: false, waitedMs: now() - start };
  }

  async awaitSnapshots(timeoutMs: number): Promise<void> {
    const { redis, partitions } = this.options;
    await waitSnapshots(redis, this.prefix, await logHeads(redis, this.prefix, partitions), timeoutMs);
  }

  /**
   * Restarts the projector process with a retention of 0 and rounds 200 ms apart, and waits until
   * the archiver has moved every finished task out of the log (or made no progress for 60 s). The
   * drains run with the default retention (7 days), so archiving never competes with them.
   */
  async archiveAll(timeoutMs: number): Promise<{ ms: number; streamEntriesLeft: number } | null> {
    const index = this.servers.findIndex((s) => s.roles.includes("projector"));
    const old = this.servers[index];
    if (!old || old.roles.includes("dispatcher")) return null; // --layout single: one process for all
    const started = now();
    await stopServers([old]);
    this.servers[index] = await startServer(
      { role: old.role, roles: old.roles.join(",") },
      {
        prefix: this.prefix,
        label: `${this.label}-archiving`,
        profileDir: null,
        env: { ...this.env, TASKSTREAM_RETENTION_MS: "0", TASKSTREAM_ARCHIVE_INTERVAL_MS: "200" },
      },
    );
    const keys = this.streamKeys();
    let left = await streamEntries(this.options.redis, keys);
    let progressAt = now();
    while (left > 0 && now() - started < timeoutMs && now() - progressAt < 60_000) {
      await sleep(250);
      const next = await streamEntries(this.options.redis, keys);
      if (next < left) progressAt = now();
      left = next;
    }
    return { ms: now() - started, streamEntriesLeft: left };
  }

  async verify(): Promise<Record<string, number>> {
    const { byState, events } = await readModelCounts(this.options.pgUrl);
    const logged = await streamEntries(this.options.redis, this.streamKeys());
    return { succeededRows: byState.SUCCEEDED ?? 0, projectedEvents: events, loggedEvents: logged };
  }

  async memory(): Promise<MemoryReport> {
    const redis = this.options.redis;
    const classes = await memoryByClass(redis, this.prefix, classifyTaskstreamKey);
    const totalBytes = [...classes.values()].reduce((n, c) => n + c.bytes, 0);
    const roleRss = this.roleRss();
    return {
      classes,
      totalBytes,
      usedMemoryDelta: (await redisInfo(redis)).usedMemory - this.baselineMemory,
      streamEntries: await streamEntries(redis, this.streamKeys()),
      roleRss,
      entrySizes: await this.entrySizes(),
    };
  }

  /** Field bytes of up to 4,000 entries of partition 0, by event type. */
  private async entrySizes(): Promise<
    Record<string, { count: number; fieldBytes: number; dataBytes: number }>
  > {
    const entries = await this.options.redis.xrange(this.streamKeys()[0]!, "-", "+", "COUNT", 4000);
    const sizes: Record<string, { count: number; fieldBytes: number; dataBytes: number }> = {};
    for (const [, fields] of entries) {
      const type = fields[fields.indexOf("type") + 1] ?? "?";
      const data = fields[fields.indexOf("data") + 1] ?? "";
      const size = (sizes[type] ??= { count: 0, fieldBytes: 0, dataBytes: 0 });
      size.count++;
      size.fieldBytes += fields.reduce((n, f) => n + Buffer.byteLength(f), 0);
      size.dataBytes += Buffer.byteLength(data);
    }
    for (const size of Object.values(sizes)) {
      size.fieldBytes /= size.count;
      size.dataBytes /= size.count;
    }
    return sizes;
  }

  get admin(): Redis {
    return this.options.redis;
  }

  processIds(): Record<string, number[]> {
    return Object.fromEntries(
      this.servers.map((s) => [s.role, s.child.pid === undefined ? [] : [s.child.pid]]),
    );
  }

  pauseProjector(paused: boolean): void {
    this.server("projector").child.kill(paused ? "SIGSTOP" : "SIGCONT");
  }

  async projectorCounts(): Promise<{ events: number; batches: number }> {
    const text = await scrape(this.server("projector"));
    return {
      events: parseCounter(text, "taskstream_projected_events_total"),
      batches: parseHistogram(text, LAG_HISTOGRAM).get(Number.POSITIVE_INFINITY) ?? 0,
    };
  }

  roleRss(): Record<string, number> {
    const roleRss: Record<string, number> = {};
    for (const server of this.servers) roleRss[server.role] = rssOf(server.child.pid);
    return roleRss;
  }

  lag = {
    begin: async (): Promise<void> => {
      await this.startProbe();
      this.lagBefore = parseHistogram(await scrape(this.server("projector")), LAG_HISTOGRAM);
      await this.collectProbe();
    },
    end: async (): Promise<LagReport> => {
      const after = parseHistogram(await scrape(this.server("projector")), LAG_HISTOGRAM);
      const delta = bucketDelta(this.lagBefore, after);
      const probe = summarize(await this.collectProbe());
      return {
        probe: { p50: probe.p50, p99: probe.p99, max: probe.max, count: probe.count },
        histogram: {
          p50: bucketQuantile(delta, 0.5) * 1000,
          p99: bucketQuantile(delta, 0.99) * 1000,
          count: delta.get(Number.POSITIVE_INFINITY) ?? 0,
        },
      };
    },
  };

  private async collectProbe(): Promise<Float64Array> {
    const probe = this.probe!;
    const reply = nextMessage(probe, isKind<{ kind: "lag"; lag: Float64Array }>("lag"), 30_000, "lag probe");
    probe.send({ kind: "collect" });
    return (await reply).lag;
  }
}
