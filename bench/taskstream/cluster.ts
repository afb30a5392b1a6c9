import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { decodeSnapshot } from "../../dispatcher/snapshot-codec.ts";
import { partitionKeys } from "../../event-store/keys.ts";
import { compareStreamIds } from "../../event-store/stream-ids.ts";
import { rssOf, stopChild } from "../proc.ts";
import type { ProducerConfig, WorkerConfig } from "../protocol.ts";
import { deletePrefix } from "../redis-admin.ts";
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
 * Waits until every partition has a snapshot at or after `positions` (taken with the partition's
 * epoch in `epochs`, when given): a next owner then reads only what came after them. Returns the
 * tasks they hold.
 */
export async function waitSnapshots(
  redis: Redis,
  prefix: string,
  positions: string[],
  timeoutMs: number,
  epochs?: ReadonlyMap<number, number>,
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
        (epochs !== undefined && snapshot.epoch !== epochs.get(p)) ||
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

/** What a dispatcher logged when one of its terms began to own a partition ("partition owned"). */
export interface PartitionOwned {
  partition: number;
  epoch: number;
  tasks: number;
  /** Ready tasks once rebuilt: a partition with none has no first dispatch to wait for. */
  ready: number;
  restored: number;
  read: number;
  /** Claim granted → rebuilt (work accepted), ms; of which folding the snapshot and the log. */
  rebuildMs: number;
  foldMs: number;
  /** When it was logged (Unix ms). */
  at: number;
}

/** What a term logged at its first assignment ("partition first dispatch"). */
export interface PartitionDispatched {
  partition: number;
  epoch: number;
  /** Claim granted → first assignment sent, ms. */
  ms: number;
  at: number;
}

/** One partition of a takeover, as its new owner timed it (first dispatch NaN: it had no ready task). */
export interface PartitionTakeover extends PartitionOwned {
  firstDispatchMs: number;
  dispatchedAt: number;
}

function byRole<T>(map: Map<string, Map<number, T>>, role: string): Map<number, T> {
  const found = map.get(role) ?? new Map<number, T>();
  map.set(role, found);
  return found;
}

/**
 * Taskstream roles as separate `taskstream serve` processes that the takeover and soak benchmarks
 * start, kill and replace one by one: an API, any number of dispatchers (they share the partitions,
 * docs/partition-ownership.md), and optionally a projector with the read API (which also runs the
 * archiver).
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
  /** Per dispatcher role name, per partition, its latest "partition owned" log line. */
  readonly owned = new Map<string, Map<number, PartitionOwned>>();
  /** Per dispatcher role name, per partition, its latest "partition first dispatch" log line. */
  readonly dispatched = new Map<string, Map<number, PartitionDispatched>>();
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
        // Events only (requests log at "debug"): the "taskstream serving" line servers.ts reads,
        // and the dispatchers' "partition owned" and "partition first dispatch".
        TASKSTREAM_LOG_LEVEL: "info",
        ...options.env,
        ...extraEnv,
      },
      onLine: (role: string, line: string) => {
        const owned = line.includes('"partition owned"');
        if (!owned && !line.includes('"partition first dispatch"')) return;
        let entry: { partition: number; time: string };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          return; // not a JSON log line
        }
        const record = { ...entry, at: Date.parse(entry.time) };
        if (owned) byRole(this.owned, role).set(entry.partition, record as unknown as PartitionOwned);
        else byRole(this.dispatched, role).set(entry.partition, record as unknown as PartitionDispatched);
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
   * Starts one more dispatcher (`dispatcher-N`); `ready` waits until it owns its share of the
   * partitions, else until it answers.
   */
  async startDispatcher(ready: boolean): Promise<ServerProcess> {
    const role = `dispatcher-${++this.started}`;
    const server = await startServer(
      { role, roles: "dispatcher" },
      this.serverOptions(),
      ready ? "ready" : "alive",
    );
    this.dispatchers.push(server);
    return server;
  }

  /** The partitions the dispatcher owns now, with their epochs (its metrics). */
  async epochsOf(server: ServerProcess): Promise<Map<number, number>> {
    const text = await scrape(server);
    const epochs = new Map<number, number>();
    for (const [, p, epoch] of text.matchAll(
      /^taskstream_dispatcher_partition_epoch\{partition="(\d+)"\} (\S+)$/gm,
    ))
      epochs.set(Number(p), Number(epoch));
    return epochs;
  }

  /** Waits until the dispatcher owns every partition, at most `timeoutMs`; returns their epochs. */
  async waitOwnsAll(server: ServerProcess, timeoutMs: number): Promise<Map<number, number>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const epochs = await this.epochsOf(server).catch(() => new Map<number, number>());
      if (epochs.size === this.options.partitions) return epochs;
      if (Date.now() > until)
        throw new Error(
          `${server.role} owned ${epochs.size} of ${this.options.partitions} partitions after ${timeoutMs} ms`,
        );
      await sleep(50);
    }
  }

  /** Waits until the running dispatchers own every partition between them, each at least one. */
  async waitShared(timeoutMs: number): Promise<Map<string, Map<number, number>>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const shares = new Map<string, Map<number, number>>();
      for (const server of this.dispatchers)
        shares.set(server.role, await this.epochsOf(server).catch(() => new Map<number, number>()));
      const all = [...shares.values()].flatMap((epochs) => [...epochs.keys()]);
      const spread = [...shares.values()].every((epochs) => epochs.size > 0);
      if (spread && all.length === this.options.partitions && new Set(all).size === all.length) return shares;
      if (Date.now() > until) throw new Error(`the partitions were not shared out within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /**
   * The takeover by `survivor` of the partitions it claimed at or after `since` (Unix ms): waits
   * until it owns every partition and each of those that had a ready task has sent its first
   * assignment, then returns each one's timing as its term logged it, in partition order.
   */
  async takeover(survivor: ServerProcess, since: number, timeoutMs: number): Promise<PartitionTakeover[]> {
    const until = Date.now() + timeoutMs;
    const epochs = await this.waitOwnsAll(survivor, timeoutMs);
    for (;;) {
      const owned = [...(this.owned.get(survivor.role)?.values() ?? [])].filter(
        (o) => o.at >= since && epochs.get(o.partition) === o.epoch,
      );
      const dispatched = this.dispatched.get(survivor.role);
      const taken = owned.map((o) => ({ owned: o, first: dispatched?.get(o.partition) }));
      const done = ({ owned: o, first }: (typeof taken)[number]) => o.ready === 0 || first?.epoch === o.epoch;
      if (taken.length > 0 && taken.every(done))
        return taken
          .map(({ owned: o, first }) => {
            const dispatched = first?.epoch === o.epoch ? first : undefined;
            return {
              ...o,
              firstDispatchMs: dispatched?.ms ?? Number.NaN,
              dispatchedAt: dispatched?.at ?? Number.NaN,
            };
          })
          .sort((a, b) => a.partition - b.partition);
      if (Date.now() > until)
        throw new Error(
          `${survivor.role}: not every partition taken over had dispatched within ${timeoutMs} ms`,
        );
      await sleep(50);
    }
  }

  /** A crash: SIGKILL, no lease revoked; the others wait for its claims to expire. */
  kill(server: ServerProcess): void {
    server.child.kill("SIGKILL");
    this.dispatchers = this.dispatchers.filter((d) => d !== server);
  }

  /** Each partition's newest log position now. */
  heads(): Promise<string[]> {
    return logHeads(this.options.redis, this.prefix, this.options.partitions);
  }

  /** See `waitSnapshots`; only snapshots taken with the partitions' `epochs` count. */
  waitSnapshots(
    epochs: ReadonlyMap<number, number>,
    positions: string[],
    timeoutMs: number,
  ): Promise<number> {
    return waitSnapshots(this.options.redis, this.prefix, positions, timeoutMs, epochs);
  }

  /** Deletes every partition's snapshot (the takeover baseline: an owner that must fold the whole log). */
  async dropSnapshots(): Promise<void> {
    await this.options.redis.del(...this.partitionList().map((p) => partitionKeys(p, this.prefix).snapshot));
  }

  private partitionList(): number[] {
    return Array.from({ length: this.options.partitions }, (_, p) => p);
  }

  /**
   * RSS of each running process by role (dispatchers: `dispatcher` for the one given); NaN for
   * a process that is gone (a killed dispatcher until its successor is known).
   */
  rss(dispatcher: ServerProcess | null): Record<string, number> {
    const of = (server: ServerProcess) => rssOf(server.child.pid) || Number.NaN;
    const rss: Record<string, number> = {};
    if (this.api) rss.api = of(this.api);
    if (dispatcher) rss.dispatcher = of(dispatcher);
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
