import type { OwnerMessage } from "../proto/gen/taskstream/cluster/v1/peers.ts";
import type { Placement } from "./placement.ts";
import type { WorkerSession } from "./worker-session.ts";
import type { WorkerSessions } from "./worker-sessions.ts";

/**
 * What a partition tells each worker's host after every matching pass (docs/partition-ownership.md):
 * how many of its ready tasks the worker could run now and the most urgent priority among them
 * (`Wanted`, sent when it changes), and the credits it holds but cannot use (`CreditsReturned`, so
 * the host lends those slots to another partition).
 */
export class WorkerWants {
  private readonly partition: number;
  private readonly sessions: WorkerSessions;
  private readonly placement: Placement;
  private readonly send: (hostId: string, message: OwnerMessage) => void;
  /** What each worker's host was last told, as `count:priority`. */
  private readonly told = new Map<string, string>();

  constructor(
    partition: number,
    sessions: WorkerSessions,
    placement: Placement,
    send: (hostId: string, message: OwnerMessage) => void,
  ) {
    this.partition = partition;
    this.sessions = sessions;
    this.placement = placement;
    this.send = send;
  }

  /** A worker (re)joined: its host knows nothing of this partition's wants yet. */
  joined(session: WorkerSession): void {
    this.told.delete(session.id);
  }

  /** After a matching pass: `starved` had free slots and got nothing they may run. */
  update(starved: ReadonlySet<WorkerSession>): void {
    for (const id of this.told.keys()) if (!this.sessions.get(id)) this.told.delete(id);
    for (const session of this.sessions.values()) {
      if (session.stream === null) continue;
      const free = session.freeSlots;
      const want = starved.has(session)
        ? { count: 0, priority: -1 }
        : this.placement.wanted(session, Math.max(1, session.info.slots));
      // Beyond what its credits already cover.
      if (free > 0 && want.count === 0) {
        session.slots -= free;
        this.send(session.host, {
          msg: { $case: "returned", value: { partition: this.partition, workerId: session.id, count: free } },
        });
      }
      const key = `${want.count}:${want.priority}`;
      if (this.told.get(session.id) === key) continue;
      this.told.set(session.id, key);
      this.send(session.host, {
        msg: {
          $case: "wanted",
          value: {
            partition: this.partition,
            workerId: session.id,
            count: want.count,
            priority: want.priority,
          },
        },
      });
    }
  }
}
