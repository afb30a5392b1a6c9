import { EventEmitter } from "node:events";
import type { Etcd3 } from "etcd3";
import type { RedisClient } from "../event-store/redis-client.ts";
import type { EventLog } from "../event-store/event-log.ts";
import type { PeerServiceServer } from "../proto/gen/taskstream/cluster/v1/peers.ts";
import type { WorkerServiceServer } from "../proto/gen/taskstream/v1/workers.ts";
import type { Logger } from "../observability/log.ts";
import type { DispatcherMetrics } from "../observability/metrics.ts";
import { publishHostStats, publishStats, removeHostStats } from "../queues/dispatch-stats.ts";
import type { QueueSettingsStore } from "../queues/queue-settings.ts";
import { SharedLimits } from "../queues/shared-limits.ts";
import type { DispatcherConfig } from "./context.ts";
import { WorkerHost } from "./host/worker-host.ts";
import { Leadership } from "./leadership.ts";
import { Links, peerService } from "./links/links.ts";
import { Ownership } from "./ownership/ownership.ts";
import { preferences } from "./ownership/rendezvous.ts";
import { PartitionOwner } from "./partition-owner.ts";
import type { Term, TermEvents } from "./term.ts";
import type { Scheduler } from "./schedules/scheduler.ts";
import { WorkerRegistry } from "./worker-registry.ts";
import { WorkerTokens } from "./worker-tokens.ts";
import type { Authenticator } from "../auth/authenticator.ts";
import { grpcPrincipal } from "../auth/grpc.ts";

export interface DispatcherOptions {
  store: EventLog;
  redis: RedisClient;
  etcd: Etcd3;
  /** etcd key namespace, e.g. `/taskstream/ts/`. */
  etcdPrefix: string;
  leaseTtlSeconds: number;
  config: DispatcherConfig;
  metrics: DispatcherMetrics;
  log: Logger;
  settings: QueueSettingsStore;
  /** Who may connect as a worker: an API key with the `worker` scope (docs/security.md). */
  authenticator: Authenticator;
  /** Fires recurring schedules while this dispatcher holds the coordinator lease (dispatcher/schedules/scheduler.ts). */
  scheduler?: Scheduler;
}

/**
 * The dispatcher role (docs/partition-ownership.md). Every dispatcher is three things at once:
 * - a **member** of the cluster, owning the partitions rendezvous hashing gives it (Ownership, etcd);
 * - an **owner**: one Term per owned partition, fenced by the partition's epoch (PartitionOwner);
 * - a **host** for the workers that connect to it, whatever partitions their tasks are in (WorkerHost),
 *   linked to every partition's owner (Links: in-process to itself, gRPC to the others).
 * One of them also holds the coordinator lease and runs the scheduler.
 */
/** What a dispatcher announces (readiness changes; its partitions' sweeps and intake batches, for tests). */
export interface DispatcherEvents {
  /** Ownership or a term's state changed: `leading` may have changed. */
  changed: [];
  swept: [partition: number, info: TermEvents["swept"][0]];
  intake: [partition: number];
}

export class Dispatcher extends EventEmitter<DispatcherEvents> {
  readonly registry: WorkerRegistry;
  readonly owner: PartitionOwner;
  readonly leadership: Leadership;
  private readonly options: DispatcherOptions;
  private ownership: Ownership | null = null;
  private host: WorkerHost | null = null;
  private links: Links | null = null;
  private tokens: WorkerTokens | null = null;
  private member = "";
  private statsTimer: NodeJS.Timeout | null = null;

  constructor(options: DispatcherOptions) {
    super();
    this.options = options;
    this.registry = new WorkerRegistry(
      options.etcd,
      `${options.etcdPrefix}workers/`,
      Math.ceil(options.config.heartbeatTimeoutMs / 1000),
    );
    this.owner = new PartitionOwner({
      store: options.store,
      fencedOut: (partition) => void this.ownership?.relinquish(partition),
      publishStats: (partition, epoch, stats) =>
        publishStats(options.redis, options.store.prefix, partition, epoch, stats),
      settings: options.settings,
      limits: new SharedLimits(options.redis, options.store.prefix),
      config: options.config,
      metrics: options.metrics,
      log: options.log,
    });
    this.owner.on("changed", () => this.emit("changed"));
    // Say so when the dispatcher starts or stops leading its share of the partitions.
    let wasLeading = false;
    this.on("changed", () => {
      const leading = this.leading;
      if (leading === wasLeading) return;
      wasLeading = leading;
      const partitions = [...this.owner.epochs().keys()].sort((a, b) => a - b);
      if (leading)
        this.options.log.info({ partitions: partitions.join(",") }, "dispatcher leading its partitions");
      else
        this.options.log.info(
          { partitions: partitions.join(",") },
          "dispatcher not leading all its partitions",
        );
    });
    this.owner.on("swept", (partition, info) => this.emit("swept", partition, info));
    this.owner.on("intake", (partition) => this.emit("intake", partition));
    this.leadership = new Leadership(options.etcd, {
      key: `${options.etcdPrefix}leader`,
      ttlSeconds: options.leaseTtlSeconds,
    });
    this.leadership.on("elected", (epoch: number) => void this.coordinate(epoch));
    this.leadership.on("demoted", () => {
      this.options.metrics.leadership(null);
      void this.options.scheduler?.stop();
    });
    this.leadership.on("error", (error: unknown) =>
      options.log.warn({ err: error }, "coordinator election failed"),
    );
  }

  /**
   * Joins the cluster as `address` (this dispatcher's gRPC address as workers and the other
   * dispatchers reach it): loads the cluster's secret, starts hosting, claims its partitions.
   */
  async start(address: string): Promise<void> {
    const { etcd, store, etcdPrefix, leaseTtlSeconds, log } = this.options;
    this.member = address;
    this.tokens ??= await WorkerTokens.load(etcd, `${etcdPrefix}worker-token-secret`);
    this.links = new Links(address, this.owner, this.tokens.secret, log);
    this.ownership = new Ownership(etcd, {
      etcdPrefix,
      member: address,
      partitions: store.partitions,
      ttlSeconds: leaseTtlSeconds,
      claimEpoch: (partition, floor) => store.claim(partition, floor),
      acquire: (partition, epoch, claimedAt) => this.owner.acquire(partition, epoch, claimedAt),
      release: (partition) => this.owner.release(partition),
      lost: (partitions, reason) => this.owner.lost(partitions, reason),
      log,
    });
    const ownership = this.ownership;
    this.host = new WorkerHost({
      member: address,
      partitions: store.partitions,
      partitionOf: (taskId) => store.partitionOf(taskId),
      links: this.links,
      registry: this.registry,
      tokens: () => this.tokens,
      config: this.options.config,
      metrics: this.options.metrics,
      log,
      accepting: () => ownership.trusted,
      authenticate: (metadata) => grpcPrincipal(this.options.authenticator, metadata),
    });
    const host = this.host;
    ownership.on("map", () => {
      host.holdersChanged(holderMembers(ownership));
      this.emit("changed");
    });
    host.start();
    await ownership.start();
    host.holdersChanged(holderMembers(ownership));
    this.statsTimer = setInterval(() => this.publishStats(), 1000);
    this.leadership.start(address);
  }

  /**
   * Leaves the cluster: the scheduler stops, every owned partition is handed over (each new owner
   * starts from the snapshot taken at the handover), then the workers' streams end so they move to
   * another dispatcher.
   */
  async stop(): Promise<void> {
    await this.options.scheduler?.stop();
    await this.leadership.stop();
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    await this.ownership?.stop();
    this.owner.closeAll("shutting down");
    await this.host?.stop("dispatcher shutting down");
    this.links?.close();
    await removeHostStats(this.options.redis, this.options.store.prefix, this.member).catch(() => undefined);
  }

  /**
   * Ready: a trusted member whose partitions are all owned and leading — every partition that
   * rendezvous hashing gives it is claimed and its term started.
   */
  get leading(): boolean {
    const ownership = this.ownership;
    if (!ownership?.trusted || !this.owner.settled) return false;
    const members = ownership.memberIds();
    const owned = this.owner.epochs();
    const lines = preferences(this.options.store.partitions, members);
    for (let p = 0; p < this.options.store.partitions; p++)
      if (lines[p]![0] === this.member && !owned.has(p)) return false;
    return true;
  }

  /** The ledgers of the workers this dispatcher hosts (WorkerHost.ledgers). */
  hostedLedgers() {
    return this.host?.ledgers() ?? [];
  }

  /** The term of the partition the task belongs to, when this dispatcher owns it. */
  termFor(taskId: string): Term | undefined {
    return this.owner.terms.get(this.options.store.partitionOf(taskId));
  }

  /** The partitions this dispatcher owns now, with their epochs. */
  get partitions(): ReadonlyMap<number, number> {
    return this.owner.epochs();
  }

  /** The gRPC WorkerService: workers connect to any dispatcher. */
  workerService(): WorkerServiceServer {
    return {
      connect: (call) => {
        if (this.host) this.host.connect(call);
        else call.end();
      },
    };
  }

  /** The gRPC PeerService: the other dispatchers' links to the partitions this one owns. */
  peerService(): PeerServiceServer {
    return {
      link: (call) => {
        if (!this.tokens) return call.end();
        peerService(this.owner, this.tokens.secret, this.options.log).link(call);
      },
    };
  }

  private async coordinate(epoch: number): Promise<void> {
    this.options.metrics.leadership(epoch);
    try {
      await this.options.scheduler?.start(epoch);
    } catch (error) {
      this.options.log.error(
        { err: error, epoch },
        "scheduler could not start; giving up the coordinator lease",
      );
      this.options.metrics.leadership(null);
      const candidate = this.leadership.candidate;
      await this.leadership.stop();
      setTimeout(() => this.leadership.start(candidate), 1000).unref();
    }
  }

  private publishStats(): void {
    const now = Date.now();
    const host = this.host;
    if (!host) return;
    const hostStats = host.stats(now);
    const merged = this.owner.mergedStats(now);
    this.options.metrics.dispatchStats({ ...merged, workers: hostStats.workers }, now);
    this.options.metrics.queueDepth(merged.queueDepthByPriority);
    void publishHostStats(this.options.redis, this.options.store.prefix, hostStats).catch(() => undefined);
  }
}

function holderMembers(ownership: Ownership): Map<number, string> {
  return new Map([...ownership.holders()].map(([partition, holder]) => [partition, holder.member]));
}
