import { fireTimesBetween, latestFireTimes } from "./cron.ts";
import type { CatchUpPolicy } from "./events.ts";
import type { ScheduleState } from "./state.ts";

/** ALL fires at most this many missed firings per catch-up (the newest); older ones are skipped. */
export const CATCH_UP_MAX_FIRINGS = 100;
/** Missed firings enumerated one by one at most; past that, the gap is jumped and not counted. */
export const CATCH_UP_SCAN_LIMIT = 1000;
/** NONE fires a firing only while it is at most this late; later it counts as missed. */
export const ON_TIME_TOLERANCE_MS = 5_000;

/** What the leader does now about a schedule's due firings. */
export interface CatchUpPlan {
  /** Missed firings the policy passes over, recorded (ScheduleFiringsSkipped) before anything fires. */
  skip: { first: number; last: number; count: number | null } | null;
  /** Fire times to submit now, oldest first. */
  fire: number[];
}

const NOTHING: CatchUpPlan = { skip: null, fire: [] };

/**
 * Applies the schedule's catch-up policy to the fire times in (cursor, now]. Pure: every leader
 * that reads the same log at the same `now` plans the same. Normally exactly one firing is due and
 * fires; more than one are due only after downtime (or a stall), and then the policy decides.
 */
export function planCatchUp(state: ScheduleState, now: number): CatchUpPlan {
  if (state.status !== "ACTIVE") return NOTHING;
  const { cron, timeZone, cursor, catchUp } = state;
  const scan = fireTimesBetween(cron, timeZone, cursor, now, CATCH_UP_SCAN_LIMIT);
  if (scan.times.length === 0) return NOTHING;
  if (!scan.more) {
    const keep = kept(catchUp, scan.times, now);
    const skipped = scan.times.slice(0, scan.times.length - keep);
    return {
      skip:
        skipped.length === 0 ? null : { first: skipped[0]!, last: skipped.at(-1)!, count: skipped.length },
      fire: scan.times.slice(scan.times.length - keep),
    };
  }
  // Too many missed firings to walk: take the newest from `now` backwards, plus the one before them
  // as the last skipped. The skip is recorded, so the next leader starts after it whatever `now` it sees.
  const newest = latestFireTimes(cron, timeZone, cursor, now, CATCH_UP_MAX_FIRINGS + 1).reverse();
  const first = scan.times[0]!;
  if (newest.length < 2) {
    // The backward walk found nothing to stand on: skip the part scanned; the next plan goes on from there.
    return { skip: { first, last: scan.times.at(-1)!, count: scan.times.length }, fire: [] };
  }
  const candidates = newest.slice(1);
  const keep = kept(catchUp, candidates, now);
  const skippedOfCandidates = candidates.length - keep;
  const last = skippedOfCandidates > 0 ? candidates[skippedOfCandidates - 1]! : newest[0]!;
  return { skip: { first, last, count: null }, fire: candidates.slice(skippedOfCandidates) };
}

/** How many of the newest due fire times (ascending) the policy fires. */
function kept(policy: CatchUpPolicy, due: number[], now: number): number {
  switch (policy) {
    case "LATEST":
      return Math.min(1, due.length);
    case "ALL":
      return Math.min(CATCH_UP_MAX_FIRINGS, due.length);
    case "NONE": {
      const onTime = due.filter((fireAt) => now - fireAt <= ON_TIME_TOLERANCE_MS).length;
      return Math.min(CATCH_UP_MAX_FIRINGS, onTime);
    }
    default: {
      const unknown: never = policy;
      return unknown;
    }
  }
}
