import { EventEmitter } from "node:events";
import type { HostMessage, OwnerMessage } from "../proto/gen/taskstream/cluster/v1/peers.ts";
import { mergePartitionStats, type PartitionStats } from "../queues/dispatch-stats.ts";
import type { DispatcherContext } from "./context.ts";
import type { OwnerEndpoint } from "./links/links.ts";
import { Term, type TermEvents } from "./term.ts";

/** Most messages held for a partition while its term starts; past it the oldest go back to their hosts. */
const MAX_HELD = 100_000;

/** What the owner needs besides what its terms need. */
export type OwnerContext = Omit<DispatcherContext, "toHost" | "publishStats" | "fencedOut"> & {
  /** A partition's term was fenced out by a newer owner: its claim should be given up. */
  fencedOut(partition: number): void;
  /** Publishes a partition's stats, fenced by its epoch (queues/dispatch-stats.ts). */
  publishStats(partition: number, epoch: number, stats: PartitionStats): Promise<void>;
};

/**
 * The partitions this dispatcher owns, one Term each, and the hosts linked to them
 * (docs/partition-ownership.md). Routes each host message to its partition's term; a message for a
 * partition it does not own goes back to the host (`gone`), which routes it to the next owner.
 * Messages that arrive while a term starts are held and handed over once it leads.
 */
/** What the owner announces, for the dispatcher's readiness and for tests that await instead of polling. */
export interface OwnerEvents {
  /** A partition's term began to lead, or a partition was released or lost. */
  changed: [];
  /** A partition's term swept (once a second each). */
  swept: [partition: number, info: TermEvents["swept"][0]];
  /** A partition's intake follower folded a batch of other writers' events. */
  intake: [partition: number];
}

export class PartitionOwner extends EventEmitter<OwnerEvents> implements OwnerEndpoint {
  private readonly ctx: OwnerContext;
  readonly terms = new Map<number, Term>();
  private readonly held = new Map<number, { hostId: string; message: HostMessage }[]>();
  private readonly hosts = new Map<string, (message: OwnerMessage) => void>();
  private readonly stats = new Map<number, PartitionStats>();

  constructor(ctx: OwnerContext) {
    super();
    this.ctx = ctx;
  }

  /** The partitions whose terms lead, with their epochs. */
  epochs(): Map<number, number> {
    const epochs = new Map<number, number>();
    for (const [partition, term] of this.terms) if (term.accepting) epochs.set(partition, term.epoch);
    return epochs;
  }

  /** Whether every partition held has a term that leads (none is starting). */
  get settled(): boolean {
    return [...this.terms.values()].every((term) => term.accepting);
  }

  attach(hostId: string, send: (message: OwnerMessage) => void): () => void {
    this.hosts.set(hostId, send);
    for (const [partition, term] of this.terms)
      if (term.accepting) send({ msg: { $case: "owned", value: { partition } } });
    return () => {
      if (this.hosts.get(hostId) !== send) return;
      this.hosts.delete(hostId);
      for (const term of this.terms.values()) term.hostGone(hostId);
    };
  }

  receive(hostId: string, message: HostMessage): void {
    if (message.msg?.$case === "batch") {
      for (const inner of message.msg.value.messages) this.receive(hostId, inner);
      return;
    }
    const partition = partitionOf(message);
    if (partition === null) return;
    const held = this.held.get(partition);
    if (held) {
      held.push({ hostId, message });
      if (held.length > MAX_HELD) this.giveBack(partition, held.splice(0, held.length - MAX_HELD));
      return;
    }
    const term = this.terms.get(partition);
    if (term?.accepting) term.fromHost(hostId, message.msg);
    else this.giveBack(partition, [{ hostId, message }]);
  }

  /**
   * Starts owning the partition with `epoch`: its term rebuilds, then leads; hosts are told.
   * `claimedAt` (when the claim was granted) starts the term's takeover clock.
   */
  async acquire(partition: number, epoch: number, claimedAt = Date.now()): Promise<void> {
    this.terms.get(partition)?.close("replaced");
    const term = new Term(
      partition,
      epoch,
      {
        ...this.ctx,
        toHost: (hostId, message) => this.hosts.get(hostId)?.(message),
        fencedOut: () => {
          if (this.terms.get(partition) === term) this.lost([partition], "fenced out");
          this.ctx.fencedOut(partition);
        },
        publishStats: (stats) => {
          this.stats.set(partition, stats);
          return this.ctx.publishStats(partition, epoch, stats);
        },
      },
      claimedAt,
    );
    this.terms.set(partition, term);
    this.held.set(partition, this.held.get(partition) ?? []);
    term.on("swept", (info) => this.emit("swept", partition, info));
    try {
      await term.start();
      term.intake?.on("handled", () => this.emit("intake", partition));
    } catch (error) {
      if (this.terms.get(partition) === term) this.terms.delete(partition);
      this.giveBack(partition, this.held.get(partition) ?? []);
      this.held.delete(partition);
      term.close("start failed");
      throw error;
    }
    const held = this.held.get(partition) ?? [];
    this.held.delete(partition);
    if (this.terms.get(partition) !== term) return;
    for (const send of this.hosts.values()) send({ msg: { $case: "owned", value: { partition } } });
    for (const { hostId, message } of held) term.fromHost(hostId, message.msg);
    this.ctx.metrics.ownership(this.epochs(), this.ctx.store.partitions);
    this.emit("changed");
  }

  /**
   * Hands the partition over: its term settles, snapshots and closes, and only then are the hosts
   * told it is `gone` — the assignments the settling term still sends must find the hosts routing
   * the partition here, or they would be dropped, written but never delivered. What the hosts send
   * meanwhile is held and handed back with the `gone`.
   */
  async release(partition: number): Promise<void> {
    const term = this.terms.get(partition);
    this.terms.delete(partition);
    this.stats.delete(partition);
    const held = this.held.get(partition) ?? [];
    this.held.set(partition, held);
    try {
      await term?.handOver();
    } finally {
      if (this.held.get(partition) === held) {
        this.held.delete(partition);
        this.giveBack(partition, held);
      }
    }
    this.ctx.metrics.ownership(this.epochs(), this.ctx.store.partitions);
    this.emit("changed");
  }

  /** The partitions were lost (the claim is no longer trusted): their terms close at once. */
  lost(partitions: readonly number[], reason: string): void {
    for (const partition of partitions) {
      this.terms.get(partition)?.close(reason);
      this.terms.delete(partition);
      this.stats.delete(partition);
      this.giveBack(partition, this.held.get(partition) ?? []);
      this.held.delete(partition);
    }
    this.ctx.metrics.ownership(this.epochs(), this.ctx.store.partitions);
    this.emit("changed");
  }

  /** Closes every term (the dispatcher stops without handing over, or its etcd lease is gone). */
  closeAll(reason: string): void {
    this.lost([...this.terms.keys()], reason);
  }

  /** The merged stats of the partitions owned now (for this dispatcher's metrics). */
  mergedStats(now: number) {
    return mergePartitionStats([...this.stats.values()], now);
  }

  /** Hands messages back to their hosts: this dispatcher does not own their partition (now). */
  private giveBack(partition: number, messages: { hostId: string; message: HostMessage }[]): void {
    const byHost = new Map<string, HostMessage[]>();
    for (const { hostId, message } of messages) byHost.set(hostId, [...(byHost.get(hostId) ?? []), message]);
    for (const [hostId, undelivered] of byHost)
      this.hosts.get(hostId)?.({ msg: { $case: "gone", value: { partition, undelivered } } });
    if (messages.length === 0)
      for (const send of this.hosts.values())
        send({ msg: { $case: "gone", value: { partition, undelivered: [] } } });
  }
}

/** The partition a host message is about. */
function partitionOf(message: HostMessage): number | null {
  switch (message.msg?.$case) {
    case "joined":
    case "credits":
    case "report":
    case "left":
      return message.msg.value.partition;
    case "batch":
    case "hello":
    case undefined:
      return null;
  }
}
