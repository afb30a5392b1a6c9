import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { decodeSnapshot } from "../../dispatcher/snapshot-codec.ts";
import { partitionKeys } from "../../event-store/keys.ts";
import { compareStreamIds } from "../../event-store/stream-ids.ts";
import { rssOf, stopChild } from "../proc.ts";
import type { ProducerConfig, WorkerConfig } from "../protocol.ts";
import { deletePrefix } from "../redis-admin.ts";
import { parseCounter } from "../stats.ts";
import { scrape, startServer, type ServerProcess } from "./servers.ts";

export interface ClusterOptions {
  redis: Redis;
  redisUrl: string;
  etcdEndpoints: string;
  pgUrl: string;
  partitions: number;
  /** Key prefix (Redis) and etcd namespace of this cluster alone. */
  prefix: string;
  /** Names the processes' logs in bench/out/logs/. */
  label: string;
  /** TASKSTREAM_* settings for every process (retention, snapshot interval, …). */
  env?: Record<string, string>;
}

/** Each partition's newest log position now (`0-0` for an empty one). */
export async function logHeads(redis: Redis, prefix: string, partitions: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: partitions }, async (_, p) => {
      const [newest] = (await redis.xrevrange(partitionKeys(p, prefix).events, "+", "-", "COUNT", 1)) as [
        string,
        string[],
      ][];
      return newest?.[0] ?? "0-0";
    }),
  );
}

/**
 * Waits until every partition has a leader's snapshot at or after `positions` (taken by `epoch`,
 * when given): a next leader then reads only what came after them. Returns the tasks they hold.
 */
export async function waitSnapshots(
  redis: Redis,
  prefix: string,
  positions: string[],
  timeoutMs: number,
  epoch?: number,
): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    let tasks = 0;
    let covered = true;
    for (const [p, position] of positions.entries()) {
      const stored = await redis.getBuffer(partitionKeys(p, prefix).snapshot);
      const snapshot = stored && decodeSnapshot(stored);
      if (
        !snapshot ||
        (epoch !== undefined && snapshot.epoch !== epoch) ||
        compareStreamIds(snapshot.position, position) < 0
      ) {
        covered = false;
        break;
      }
      tasks += snapshot.tasks.length;
    }
    if (covered) return tasks;
    if (Date.now() > until) throw new Error(`no snapshot covered the log within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** What a dispatcher logged when its term began to lead ("dispatcher leading"). */
export interface Leading {
  epoch: number;
  tasks: number;
  restored: number;
  read: number;
  rebuildMs: number;
  foldMs: number;
}

/**
 * Taskstream roles as separate `taskstream serve` processes that the takeover and soak benchmarks
 * start, kill and replace one by one: an API, any number of dispatchers (one leads, the others
 * stand by), and optionally a projector with the read API (which also runs the archiver).
 */
export class Cluster {
  readonly name = "taskstream" as const;
  readonly label: string;
  readonly workerScript = "bench/taskstream/worker.ts";
  readonly producerScript = "bench/taskstream/producer.ts";
  api: ServerProcess | null = null;
  projector: ServerProcess | null = null;
  /** Running dispatchers, oldest first. */
  dispatchers: ServerProcess[] = [];
  /** Per dispatcher role name, its "dispatcher leading" log line. */
  readonly leading = new Map<string, Leading>();
  private readonly options: ClusterOptions;
  private started = 0;

  constructor(options: ClusterOptions) {
    this.options = options;
    this.label = options.label;
  }

  get prefix(): string {
    return this.options.prefix;
  }

  get partitions(): number {
    return this.options.partitions;
  }

  private serverOptions(extraEnv: Record<string, string> = {}) {
    const { options } = this;
    return {
      prefix: options.prefix,
      label: options.label,
      profileDir: null,
      env: {
        ...process.env,
        TASKSTREAM_REDIS_URL: options.redisUrl,
        TASKSTREAM_PG_URL: options.pgUrl,
        TASKSTREAM_ETCD_ENDPOINTS: options.etcdEndpoints,
        TASKSTREAM_PARTITIONS: String(options.partitions),
        TASKSTREAM_LOG_LEVEL: "warn",
        ...options.env,
        ...extraEnv,
      },
      onLine: (role: string, line: string) => {
        if (!line.includes('"dispatcher leading"')) return;
        try {
          this.leading.set(role, JSON.parse(line) as Leading);
        } catch {
          // not a JSON log line
        }
      },
    };
  }

  async startApi(): Promise<ServerProcess> {
    this.api = await startServer({ role: "api", roles: "api" }, this.serverOptions());
    return this.api;
  }

  /** The projector and read API in one process; it migrates, and runs the archiver. */
  async startProjector(extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
    this.projector = await startServer(
      { role: "projector", roles: "projector,read-api" },
      this.serverOptions(extraEnv),
    );
    return this.projector;
  }

  /**
   * Starts one more dispatcher (`dispatcher-N`); `leads` waits until it is ready (it leads), else
   * until it answers (a standby, campaigning). Its log level is info, for its "dispatcher leading".
   */
  async startDispatcher(leads: boolean): Promise<ServerProcess> {
    const role = `dispatcher-${++this.started}`;
    const server = await startServer(
      { role, roles: "dispatcher" },
      this.serverOptions({ TASKSTREAM_LOG_LEVEL: "info" }),
      leads ? "ready" : "alive",
    );
    this.dispatchers.push(server);
    return server;
  }

  /** The dispatcher that leads now (its metrics say so), or null. */
  async leader(): Promise<ServerProcess | null> {
    for (const server of this.dispatchers) {
      const text = await scrape(server).catch(() => "");
      if (parseCounter(text, "taskstream_dispatcher_leader") === 1) return server;
    }
    return null;
  }

  /** Waits until some dispatcher leads, at most `timeoutMs`. */
  async waitLeader(timeoutMs: number): Promise<ServerProcess> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leader();
      if (leader) return leader;
      if (Date.now() > until) throw new Error(`no dispatcher led within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** A crash: SIGKILL, no lease revoked; the standby waits for the lease to expire. */
  kill(server: ServerProcess): void {
    server.child.kill("SIGKILL");
    this.dispatchers = this.dispatchers.filter((d) => d !== server);
  }

  /** The new leader's own timing of its takeover (lease granted → rebuilt / → first dispatch), ms. */
  async takeoverOf(server: ServerProcess): Promise<{ rebuiltMs: number; firstDispatchMs: number }> {
    const text = await scrape(server);
    const phase = (name: string) => {
      const match = new RegExp(
        `^taskstream_dispatcher_takeover_seconds\\{phase="${name}"\\} (\\S+)$`,
        "m",
      ).exec(text);
      return match ? Number(match[1]) * 1000 : Number.NaN;
    };
    return { rebuiltMs: phase("rebuilt"), firstDispatchMs: phase("first_dispatch") };
  }

  async epochOf(server: ServerProcess): Promise<number> {
    return parseCounter(await scrape(server), "taskstream_dispatcher_epoch");
  }

  /** Each partition's newest log position now. */
  heads(): Promise<string[]> {
    return logHeads(this.options.redis, this.prefix, this.options.partitions);
  }

  /** See `waitSnapshots`; only snapshots taken by `epoch` count. */
  waitSnapshots(epoch: number, positions: string[], timeoutMs: number): Promise<number> {
    return waitSnapshots(this.options.redis, this.prefix, positions, timeoutMs, epoch);
  }

  /** Deletes every partition's snapshot (the takeover baseline: a leader that must fold the whole log). */
  async dropSnapshots(): Promise<void> {
    await this.options.redis.del(...this.partitionList().map((p) => partitionKeys(p, this.prefix).snapshot));
  }

  private partitionList(): number[] {
    return Array.from({ length: this.options.partitions }, (_, p) => p);
  }

  /**
   * RSS of each running process by role (dispatchers: `dispatcher` for the leader, given); NaN for
   * a process that is gone (a killed leader until its successor is known).
   */
  rss(leader: ServerProcess | null): Record<string, number> {
    const of = (server: ServerProcess) => rssOf(server.child.pid) || Number.NaN;
    const rss: Record<string, number> = {};
    if (this.api) rss.api = of(this.api);
    if (leader) rss.dispatcher = of(leader);
    if (this.projector) rss.projector = of(this.projector);
    return rss;
  }

  workerConfig(index: number, slots: number): WorkerConfig {
    return {
      system: "taskstream",
      index,
      slots,
      dispatcherAddresses: this.dispatchers.map((d) => d.grpcAddress),
    };
  }

  workerExecArgv(): string[] {
    return [];
  }

  producerConfig(): ProducerConfig {
    if (!this.api) throw new Error("no API process");
    return { system: "taskstream", httpUrl: this.api.httpUrl, grpcAddress: this.api.grpcAddress };
  }

  /** Stops every process (SIGTERM, SIGKILL after 15 s) and deletes the cluster's keys. */
  async stop(): Promise<void> {
    const all = [...this.dispatchers, this.api, this.projector].filter((s): s is ServerProcess => s !== null);
    await Promise.all(all.map((server) => stopChild(server.child, 15_000)));
    this.dispatchers = [];
    this.api = null;
    this.projector = null;
    await deletePrefix(this.options.redis, this.prefix);
  }
}
