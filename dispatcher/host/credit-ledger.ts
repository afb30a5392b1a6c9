/** What a partition wants of a worker: how many of its ready tasks the worker could run, the most urgent at `priority`. */
export interface Want {
  count: number;
  priority: number;
}

/** An attempt the worker runs, and the partition its task belongs to. */
export interface HeldAttempt {
  partition: number;
  attempt: number;
}

/** Default bound on the credits lent to other partitions while a wanting partition waits. */
export const DEFAULT_HOST_AGING_BOUND = 20;

/**
 * One worker's slots as its host accounts for them (docs/partition-ownership.md): every slot is
 * free, lent to a partition as a credit (the partition may fill it with an assignment), or taken by
 * an attempt the worker runs. The host is the only one that lends a worker's slots, so the worker
 * never gets more attempts than it has slots, whichever dispatchers own the partitions.
 *
 * Lending follows the partitions' wants: the most urgent first, partitions of equal urgency in
 * turn, and — as the ready queue's aging does within a partition — a wanting partition passed over
 * while K credits went to others (K: the aging bound of its want's priority) is served next,
 * whatever its urgency; only partitions more overdue go first, each once. So no wanting partition
 * sees more than K − 1 + P·slots credits lent elsewhere (P partitions), and for a one-slot worker
 * K + P − 1. Each grant also carries the assignments the worker took from
 * other partitions meanwhile, which the partition's ready queue counts towards its own aging.
 * Pure: no I/O, no clock.
 */
export class CreditLedger {
  slots: number;
  /** The aging bound for a want of this priority (as the ready queue's K_p). */
  private readonly agingBound: (priority: number) => number;
  /** Credits lent and not yet used or returned, per partition. */
  private readonly lent = new Map<number, number>();
  /** Attempts the worker runs: task id → partition and attempt. */
  readonly attempts = new Map<string, HeldAttempt>();
  private readonly wants = new Map<number, Want>();
  /** Credits lent to other partitions while this one wanted. */
  private readonly passedOver = new Map<number, number>();
  /** Per partition, the assignments from the others since it was last lent to, per priority. */
  private readonly elsewhere = new Map<number, number[]>();
  /** When each partition was last lent to (a sequence number): equal urgency takes turns. */
  private readonly lastLent = new Map<number, number>();
  private sequence = 0;

  constructor(slots: number, agingBound: number | readonly number[] = DEFAULT_HOST_AGING_BOUND) {
    this.slots = slots;
    this.agingBound =
      typeof agingBound === "number" ? () => agingBound : (p) => agingBound[p] ?? DEFAULT_HOST_AGING_BOUND;
  }

  /** Slots neither lent nor running an attempt. */
  get free(): number {
    let lent = 0;
    for (const count of this.lent.values()) lent += count;
    return Math.max(0, this.slots - lent - this.attempts.size);
  }

  /** The ledger as data: for logs and for tests that must say why a worker waited. */
  describe(): { free: number; attempts: number; lent: [number, number][]; wants: [number, number][] } {
    return {
      free: this.free,
      attempts: this.attempts.size,
      lent: [...this.lent],
      wants: [...this.wants].map(([partition, want]) => [partition, want.count]),
    };
  }

  /** Credits lent to the partition and not yet used or returned. */
  lentTo(partition: number): number {
    return this.lent.get(partition) ?? 0;
  }

  /** The partition's want, as it last said. */
  want(partition: number, want: Want): void {
    if (want.count <= 0) {
      this.wants.delete(partition);
      this.passedOver.delete(partition);
      this.elsewhere.delete(partition);
    } else this.wants.set(partition, want);
  }

  /** The partition used a credit: an assignment of a task of `priority` for the worker. */
  assigned(partition: number, taskId: string, attempt: number, priority = 0): void {
    const lent = this.lentTo(partition);
    if (lent > 0) this.lent.set(partition, lent - 1);
    this.attempts.set(taskId, { partition, attempt });
    for (const other of this.wants.keys()) {
      if (other === partition) continue;
      const counts = this.elsewhere.get(other) ?? new Array<number>(10).fill(0);
      counts[priority] = (counts[priority] ?? 0) + 1;
      this.elsewhere.set(other, counts);
    }
  }

  /** The attempt ended (its result went out, or its partition ended it): its slot is free. */
  finished(taskId: string, attempt: number): boolean {
    const held = this.attempts.get(taskId);
    if (!held || held.attempt !== attempt) return false;
    this.attempts.delete(taskId);
    return true;
  }

  /** The partition gave credits back unused. */
  returned(partition: number, count: number): void {
    const left = this.lentTo(partition) - count;
    if (left > 0) this.lent.set(partition, left);
    else this.lent.delete(partition);
  }

  /** The partition changed owners: what was lent to the old one is void, and so is its want. */
  reset(partition: number): void {
    this.lent.delete(partition);
    this.wants.delete(partition);
    this.passedOver.delete(partition);
    this.elsewhere.delete(partition);
  }

  /**
   * Lends the free slots to the wanting partitions; returns the grants, in order, each with the
   * assignments the partition's ready queue should count as made elsewhere since its last grant.
   */
  lend(): [partition: number, count: number, elsewhere: number[]][] {
    const grants: [number, number, number[]][] = [];
    let free = this.free;
    while (free > 0) {
      const wanting = [...this.wants].filter(([p, want]) => want.count > this.lentTo(p));
      if (wanting.length === 0) break;
      const [partition, want] = this.pick(wanting);
      const count = Math.min(free, want.count - this.lentTo(partition));
      this.lent.set(partition, this.lentTo(partition) + count);
      this.lastLent.set(partition, ++this.sequence);
      this.passedOver.delete(partition);
      for (const [other] of wanting)
        if (other !== partition) this.passedOver.set(other, (this.passedOver.get(other) ?? 0) + count);
      free -= count;
      grants.push([partition, count, this.elsewhere.get(partition) ?? []]);
      this.elsewhere.delete(partition);
    }
    return grants;
  }

  /** The overdue partition passed over longest; else the most urgent, the least recently lent to first. */
  private pick(wanting: [number, Want][]): [number, Want] {
    let best: [number, Want] | null = null;
    let bestOverdue = -1;
    for (const entry of wanting) {
      const overdue = (this.passedOver.get(entry[0]) ?? 0) - this.agingBound(entry[1].priority);
      if (overdue >= 0 && overdue > bestOverdue) {
        best = entry;
        bestOverdue = overdue;
      }
    }
    if (best) return best;
    for (const entry of wanting) {
      if (!best) best = entry;
      else if (entry[1].priority > best[1].priority) best = entry;
      else if (
        entry[1].priority === best[1].priority &&
        (this.lastLent.get(entry[0]) ?? 0) < (this.lastLent.get(best[0]) ?? 0)
      )
        best = entry;
    }
    return best!;
  }
}
