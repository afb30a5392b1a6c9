import type { Etcd3, Lease } from "etcd3";
import type { WorkerInfo } from "./worker-session.ts";

/** What a dispatcher term tells the directory of live workers (WorkerRegistry, in etcd, for real). */
export interface WorkerDirectory {
  register(worker: WorkerInfo, dispatcher: string): Promise<void>;
  /** The worker is alive (one of its heartbeats). */
  heartbeat(workerId: string): void;
  unregister(workerId: string): Promise<void>;
}

/**
 * Worker registrations in etcd, each under a lease of its own whose TTL is the heartbeat timeout.
 * The lease is renewed by the worker's heartbeats (not automatically), so the key disappears when a
 * worker goes silent even if this dispatcher dies too: etcd's view of live workers stays honest.
 * One lease per worker — never per task — keeps etcd's write rate proportional to the workers.
 */
export class WorkerRegistry implements WorkerDirectory {
  private readonly etcd: Etcd3;
  private readonly prefix: string;
  private readonly ttlSeconds: number;
  private readonly leases = new Map<string, Lease>();

  constructor(etcd: Etcd3, prefix: string, ttlSeconds: number) {
    this.etcd = etcd;
    this.prefix = prefix;
    this.ttlSeconds = ttlSeconds;
  }

  async register(worker: WorkerInfo, dispatcher: string): Promise<void> {
    await this.unregister(worker.id);
    const lease = this.etcd.lease(this.ttlSeconds, { autoKeepAlive: false });
    lease.on("lost", () => this.leases.delete(worker.id));
    this.leases.set(worker.id, lease);
    await lease
      .put(`${this.prefix}${worker.id}`)
      .value(JSON.stringify({ ...worker, dispatcher, registeredAt: new Date().toISOString() }));
  }

  /** Renews the worker's lease; called on its heartbeats. */
  heartbeat(workerId: string): void {
    void this.leases
      .get(workerId)
      ?.keepaliveOnce()
      .catch(() => undefined);
  }

  async unregister(workerId: string): Promise<void> {
    const lease = this.leases.get(workerId);
    this.leases.delete(workerId);
    if (lease) await lease.revoke().catch(() => undefined);
  }

  /** The registered workers, as etcd holds them. */
  async list(): Promise<(WorkerInfo & { dispatcher: string; registeredAt: string })[]> {
    const values = await this.etcd.getAll().prefix(this.prefix).strings();
    return Object.values(values).map(
      (value) => JSON.parse(value) as WorkerInfo & { dispatcher: string; registeredAt: string },
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.leases.keys()].map((id) => this.unregister(id)));
  }
}
