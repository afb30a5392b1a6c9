import { EventEmitter } from "node:events";
import type { Etcd3, Lease, Watcher } from "etcd3";

export interface LeadershipOptions {
  /** The election key, e.g. `/taskstream/ts/leader`. */
  key: string;
  ttlSeconds: number;
  /** Safety margin subtracted from the TTL when deciding whether the lease can still be trusted. */
  marginMs?: number;
}

/**
 * The margin when none is given: 2 s, but never more than a third of the TTL. The etcd client
 * renews the lease every TTL / 3, so the trust window (TTL − margin) always spans at least two
 * renewals and one late keepalive does not demote a healthy leader — with a 3 s TTL a 2 s margin
 * would leave a window of exactly one renewal, lost to any jitter.
 */
export function defaultMarginMs(ttlSeconds: number): number {
  return Math.min(2000, Math.floor((ttlSeconds * 1000) / 3));
}

/**
 * Leader election on an etcd lease, with the key's creation revision as the fencing epoch.
 *
 * Safety argument. A lease alone is not a mutex: a leader paused past its TTL still believes it
 * leads (Jepsen, etcd 3.4). So (1) the epoch, the revision at which our key was created, grows with
 * every election; (2) the new leader raises every partition's stored epoch before it writes, and the
 * store rejects writes carrying a lower one — a stale leader cannot change anything; (3) to avoid
 * even trying, we trust the lease only until `lastKeepalive + TTL − margin` and step down when a
 * keepalive is that late, before etcd can have expired it for the others.
 *
 * Events: `elected(epoch)`, `demoted(reason)`.
 */
export class Leadership extends EventEmitter {
  private readonly etcd: Etcd3;
  private readonly options: Required<LeadershipOptions>;
  /** This candidate's identity, stored as the key's value (its gRPC address helps workers find it). */
  candidate = "";
  private lease: Lease | null = null;
  private watcher: Watcher | null = null;
  private trustTimer: NodeJS.Timeout | null = null;
  private lastKeepaliveAt = 0;
  private stopped = false;
  epoch: number | null = null;

  constructor(etcd: Etcd3, options: LeadershipOptions) {
    super();
    this.etcd = etcd;
    this.options = { marginMs: defaultMarginMs(options.ttlSeconds), ...options };
  }

  get isLeader(): boolean {
    return this.epoch !== null;
  }

  /** Whether the lease is still inside its trust window. */
  get trusted(): boolean {
    return (
      this.isLeader &&
      Date.now() < this.lastKeepaliveAt + this.options.ttlSeconds * 1000 - this.options.marginMs
    );
  }

  start(candidate: string): void {
    this.candidate = candidate;
    this.stopped = false;
    void this.campaign();
  }

  /** Gives up leadership (revoking the lease frees the key at once for another candidate). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.resign("stopped");
  }

  private async campaign(): Promise<void> {
    while (!this.stopped && !this.isLeader) {
      try {
        if (await this.tryAcquire()) return;
        await this.waitForVacancy();
      } catch (error) {
        this.emit("error", error);
        await this.resign(`campaign failed: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private async tryAcquire(): Promise<boolean> {
    const lease = this.etcd.lease(this.options.ttlSeconds);
    this.lease = lease;
    lease.on("keepaliveSucceeded", () => (this.lastKeepaliveAt = Date.now()));
    lease.on("lost", () => void this.resign("lease lost").then(() => this.restart()));
    const leaseId = await lease.grant();
    this.lastKeepaliveAt = Date.now();
    const { key } = this.options;
    const txn = await this.etcd
      .if(key, "Create", "==", 0)
      .then(this.etcd.put(key).value(this.candidate).lease(leaseId))
      .commit();
    if (!txn.succeeded) {
      this.lease = null;
      await lease.revoke().catch(() => undefined);
      return false;
    }
    this.epoch = Number(txn.header.revision);
    this.trustTimer = setInterval(() => {
      if (!this.trusted) void this.resign("lease keepalive overdue").then(() => this.restart());
    }, 250);
    this.emit("elected", this.epoch);
    return true;
  }

  private async waitForVacancy(): Promise<void> {
    const watcher = await this.etcd.watch().key(this.options.key).create();
    this.watcher = watcher;
    try {
      await new Promise<void>((resolve) => {
        watcher.on("delete", () => resolve());
        watcher.on("disconnected", () => resolve());
        // The holder may have gone between our failed transaction and the watch.
        void this.etcd
          .get(this.options.key)
          .string()
          .then((value) => value === null && resolve());
      });
    } finally {
      this.watcher = null;
      await watcher.cancel().catch(() => undefined);
    }
  }

  private restart(): void {
    if (!this.stopped) void this.campaign();
  }

  /** The current leader's candidate value, as etcd holds it (null when nobody leads). */
  async leader(): Promise<string | null> {
    return this.etcd.get(this.options.key).string();
  }

  private async resign(reason: string): Promise<void> {
    if (this.trustTimer) clearInterval(this.trustTimer);
    this.trustTimer = null;
    const wasLeader = this.epoch !== null;
    this.epoch = null;
    const lease = this.lease;
    this.lease = null;
    // Demoted before anything is asked of etcd: without a quorum, the revoke below waits until one
    // is back, and the term must stop now, inside the trust window, not then.
    if (wasLeader) this.emit("demoted", reason);
    if (this.watcher) await this.watcher.cancel().catch(() => undefined);
    if (lease) await lease.revoke().catch(() => undefined);
  }
}
