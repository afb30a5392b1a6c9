/** What a matching pass needs to know of a worker session. */
export interface Matchable {
  /** Slots without an attempt; handing it a task takes one. */
  readonly freeSlots: number;
  /** Most tasks it gets in one pass (WorkerSession.wave). */
  readonly wave: number;
}

export interface PassOutcome<S = unknown> {
  /** Some session stopped at its wave with free slots left: run another pass in the next turn. */
  waveFull: boolean;
  /** Some session with free slots got nothing (no task it may run now). */
  heldBack: boolean;
  /** The sessions that had free slots and got nothing they may run. */
  starved: Set<S>;
}

/**
 * One matching pass: while work is left, offers each session with free slots one task per round,
 * round-robin, until no session takes one. A session is passed over for the rest of the pass once
 * it has had its wave. `take` picks the task for a session (null: none it may run now); `hand` gives
 * it to the session, which uses one of its free slots.
 */
export function matchPass<S extends Matchable, T>(
  sessions: readonly S[],
  hasWork: () => boolean,
  take: (session: S) => T | undefined,
  hand: (session: S, task: T) => void,
): PassOutcome<S> {
  const handed = new Map<S, number>();
  const outcome: PassOutcome<S> = { waveFull: false, heldBack: false, starved: new Set() };
  let progress = true;
  while (progress && hasWork()) {
    progress = false;
    for (const session of sessions) {
      if (session.freeSlots === 0) continue;
      const count = handed.get(session) ?? 0;
      if (count >= session.wave) {
        outcome.waveFull = true;
        continue;
      }
      const task = take(session);
      if (task === undefined) {
        outcome.heldBack = true;
        outcome.starved.add(session);
        continue;
      }
      progress = true;
      handed.set(session, count + 1);
      hand(session, task);
    }
  }
  return outcome;
}
