import { EventEmitter } from "node:events";
import type { Etcd3, Lease } from "etcd3";
import type { Logger } from "../../observability/log.ts";
import { defaultMarginMs } from "../leadership.ts";
import { PrefixView } from "./prefix-view.ts";
import { preferences } from "./rendezvous.ts";

/** Who holds a partition, as its claim key in etcd says. */
export interface PartitionHolder {
  member: string;
  /** The holder's gRPC address, where hosts reach its partitions. */
  address: string;
}

export interface OwnershipOptions {
  /** etcd key namespace, e.g. `/taskstream/ts/`. */
  etcdPrefix: string;
  /** This dispatcher's member id: its gRPC address, unique among the dispatchers. */
  member: string;
  partitions: number;
  ttlSeconds: number;
  marginMs?: number;
  /**
   * How long a vacant partition waits for each member ahead of this one in its line before this
   * one claims it (default: the lease TTL): a preferred owner that cannot take it is passed over.
   */
  fallbackMs?: number;
  /** Raises the partition's fencing epoch past all before and returns it (EventLog.claim). */
  claimEpoch(partition: number, floor: number): Promise<number>;
  /**
   * A partition was granted with this epoch (its claim created at `claimedAt`, ms): start owning it.
   * A rejection releases it again.
   */
  acquire(partition: number, epoch: number, claimedAt: number): Promise<void>;
  /** Hand the partition over: stop writing to it, settle, snapshot. Its claim is deleted afterwards. */
  release(partition: number): Promise<void>;
  /** These partitions were lost (the lease is no longer trusted, or a claim expired): stop writing to them at once. */
  lost(partitions: number[], reason: string): void;
  log: Logger;
}

export interface OwnershipEvents {
  /** The partition map changed (a claim was made or deleted anywhere). */
  map: [];
}

/**
 * Partition ownership over the dispatchers, through etcd (docs/partition-ownership.md).
 *
 * Each dispatcher is a member (a key under `members/` on its lease). Rendezvous hashing over the
 * members names each partition's preferred owner; the preferred owner claims it (a key under
 * `partitions/`, created only if absent, on its lease) and then raises its fencing epoch in the
 * log, which rejects every write of an earlier owner. A holder that is no longer preferred (a
 * member joined) hands it over: stops, settles, snapshots, deletes its claim; a leaving member
 * hands over all of its partitions. A partition left vacant is claimed by the next member in its
 * line after `fallbackMs` per member ahead. As with a single leader, the lease is trusted only until
 * `lastKeepalive + TTL − margin`: past that every partition is dropped at once, before etcd can
 * have expired the claims for the others.
 */
export class Ownership extends EventEmitter<OwnershipEvents> {
  private readonly etcd: Etcd3;
  private readonly options: Required<Omit<OwnershipOptions, "log">> & { log: Logger };
  private readonly members: PrefixView;
  private readonly claims: PrefixView;
  private lease: Lease | null = null;
  private leaseId = "";
  private lastKeepaliveAt = 0;
  private trustTimer: NodeJS.Timeout | null = null;
  private reconcileTimer: NodeJS.Timeout | null = null;
  /** Partitions this member holds, with their epochs; and those being acquired or released. */
  private readonly held = new Map<number, number>();
  private readonly busy = new Set<number>();
  /** When each vacant partition was first seen vacant (for the fallback). */
  private readonly vacantSince = new Map<number, number>();
  private running = false;
  private leaving = false;

  constructor(etcd: Etcd3, options: OwnershipOptions) {
    super();
    this.etcd = etcd;
    const marginMs = options.marginMs ?? defaultMarginMs(options.ttlSeconds);
    this.options = { fallbackMs: options.ttlSeconds * 1000, ...options, marginMs };
    this.members = new PrefixView(etcd, `${options.etcdPrefix}members/`);
    this.claims = new PrefixView(etcd, `${options.etcdPrefix}partitions/`);
    this.members.on("changed", () => this.reconcileSoon());
    this.claims.on("changed", () => {
      this.emit("map");
      this.reconcileSoon();
    });
    for (const view of [this.members, this.claims])
      view.on("error", (error) => options.log.warn({ err: error }, "etcd watch broke; reading again"));
  }

  /** Whether the lease is inside its trust window (a member that may write). */
  get trusted(): boolean {
    return (
      this.running &&
      this.lease !== null &&
      Date.now() < this.lastKeepaliveAt + this.options.ttlSeconds * 1000 - this.options.marginMs
    );
  }

  /** The partitions this member holds, with their epochs. */
  get partitions(): ReadonlyMap<number, number> {
    return this.held;
  }

  /** Every partition's holder, as etcd says (partitions between holders are absent). */
  holders(): Map<number, PartitionHolder> {
    const map = new Map<number, PartitionHolder>();
    for (const [key, value] of this.claims.entries)
      map.set(Number(key), JSON.parse(value) as PartitionHolder);
    return map;
  }

  /** The live members' ids. */
  memberIds(): string[] {
    return [...this.members.entries.keys()].sort();
  }

  /** Joins: a lease, the member key, the views of members and claims; then claims what it should. */
  async start(): Promise<void> {
    this.running = true;
    this.leaving = false;
    await this.join();
    await Promise.all([this.members.start(), this.claims.start()]);
    this.reconcileTimer = setInterval(() => this.reconcileSoon(), 1000);
    this.reconcileSoon();
  }

  /**
   * Leaves: the member key goes first (the others start preferring themselves), then every held
   * partition is handed over and its claim deleted, so each preferred owner claims it at once.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.leaving = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.reconcileTimer = null;
    await this.etcd
      .delete()
      .key(this.memberKey())
      .exec()
      .catch(() => undefined);
    await Promise.all([...this.held.keys()].map((partition) => this.handOver(partition)));
    this.running = false;
    await Promise.all([this.members.close(), this.claims.close()]);
    await this.dropLease();
  }

  private memberKey(): string {
    return `${this.options.etcdPrefix}members/${this.options.member}`;
  }

  private claimKey(partition: number): string {
    return `${this.options.etcdPrefix}partitions/${partition}`;
  }

  private async join(): Promise<void> {
    const lease = this.etcd.lease(this.options.ttlSeconds);
    this.lease = lease;
    lease.on("keepaliveSucceeded", () => (this.lastKeepaliveAt = Date.now()));
    lease.on("lost", () => this.loseAll("lease lost"));
    this.leaseId = await lease.grant();
    this.lastKeepaliveAt = Date.now();
    await lease.put(this.memberKey()).value(JSON.stringify({ address: this.options.member }));
    this.trustTimer ??= setInterval(() => {
      if (this.running && this.lease && !this.trusted) this.loseAll("lease keepalive overdue");
    }, 250);
  }

  private async dropLease(): Promise<void> {
    if (this.trustTimer) clearInterval(this.trustTimer);
    this.trustTimer = null;
    const lease = this.lease;
    this.lease = null;
    await lease?.revoke().catch(() => undefined);
  }

  /** The lease is gone or untrusted: every partition stops now; then a fresh lease and rejoin. */
  private loseAll(reason: string): void {
    if (!this.lease) return;
    const lease = this.lease;
    this.lease = null;
    const partitions = [...this.held.keys()];
    this.held.clear();
    this.options.log.warn({ reason, member: this.options.member, partitions }, "partition ownership lost");
    this.options.lost(partitions, reason);
    void lease.revoke().catch(() => undefined);
    if (!this.running || this.leaving) return;
    const rejoin = async (): Promise<void> => {
      while (this.running && !this.leaving) {
        try {
          await this.join();
          this.reconcileSoon();
          return;
        } catch (error) {
          this.options.log.warn({ err: error }, "could not rejoin; trying again");
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
    };
    void rejoin();
  }

  private reconcileScheduled = false;

  private reconcileSoon(): void {
    if (this.reconcileScheduled) return;
    this.reconcileScheduled = true;
    setImmediate(() => {
      this.reconcileScheduled = false;
      this.reconcile();
    });
  }

  /** Claims the partitions this member should hold, and hands over those it should not. */
  private reconcile(): void {
    if (!this.running || this.leaving || !this.trusted) return;
    const members = this.memberIds();
    if (!members.includes(this.options.member)) return; // our member key is not seen yet
    const holders = this.holders();
    const now = Date.now();
    const lines = preferences(this.options.partitions, members);
    for (let partition = 0; partition < this.options.partitions; partition++) {
      if (this.busy.has(partition)) continue;
      const holder = holders.get(partition);
      const line = lines[partition]!;
      if (holder) this.vacantSince.delete(partition);
      if (this.held.has(partition)) {
        if (holder && holder.member !== this.options.member) {
          // Our claim is gone and someone else's stands (it expired while we were cut off).
          this.loseOne(partition);
        } else if (line[0] !== this.options.member) void this.handOver(partition);
        continue;
      }
      if (holder) continue;
      const since = this.vacantSince.get(partition) ?? now;
      this.vacantSince.set(partition, since);
      const rank = line.indexOf(this.options.member);
      if (rank === 0 || now - since >= rank * this.options.fallbackMs) void this.claim(partition);
    }
  }

  private async claim(partition: number): Promise<void> {
    this.busy.add(partition);
    let epoch: number | null = null;
    try {
      const value = JSON.stringify({ member: this.options.member, address: this.options.member });
      const txn = await this.etcd
        .if(this.claimKey(partition), "Create", "==", 0)
        .then(this.etcd.put(this.claimKey(partition)).value(value).lease(this.leaseId))
        .commit();
      if (!txn.succeeded) return;
      const claimedAt = Date.now();
      epoch = await this.options.claimEpoch(partition, Number(txn.header.revision));
      if (!this.trusted) throw new Error("lease not trusted after the claim");
      this.held.set(partition, epoch);
      await this.options.acquire(partition, epoch, claimedAt);
    } catch (error) {
      this.options.log.warn({ err: error, partition }, "could not take the partition; releasing it");
      if (epoch !== null) await this.handOver(partition, true);
      else await this.deleteClaim(partition);
    } finally {
      this.busy.delete(partition);
      this.reconcileSoon();
    }
  }

  /** Hands a held partition over: the owner's release, then the claim deleted. */
  private async handOver(partition: number, failed = false): Promise<void> {
    if (!this.held.has(partition) || (this.busy.has(partition) && !failed)) return;
    this.busy.add(partition);
    try {
      await this.options.release(partition).catch((error: unknown) => {
        this.options.log.warn({ err: error, partition }, "partition handover incomplete");
      });
      this.held.delete(partition);
      await this.deleteClaim(partition);
    } finally {
      this.busy.delete(partition);
      this.reconcileSoon();
    }
  }

  /**
   * Gives up a held partition without a handover (its term was fenced out by a newer epoch): the
   * claim is deleted, and claimed afresh — with a higher epoch — if this member is still preferred.
   */
  async relinquish(partition: number): Promise<void> {
    if (!this.held.has(partition)) return;
    this.held.delete(partition);
    await this.deleteClaim(partition);
    this.reconcileSoon();
  }

  /** Our claim was lost to another member: stop writing to the partition now. */
  private loseOne(partition: number): void {
    this.held.delete(partition);
    this.options.lost([partition], "claimed by another member");
  }

  private async deleteClaim(partition: number): Promise<void> {
    // Only our own claim: compare the lease it was made on.
    await this.etcd
      .if(this.claimKey(partition), "Lease", "==", this.leaseId)
      .then(this.etcd.delete().key(this.claimKey(partition)))
      .commit()
      .catch(() => undefined);
  }
}
