import { describe, expect, it } from "vitest";
import {
  CATCH_UP_MAX_FIRINGS,
  CATCH_UP_SCAN_LIMIT,
  ON_TIME_TOLERANCE_MS,
  planCatchUp,
  type CatchUpPlan,
} from "./catch-up.ts";
import type { CatchUpPolicy, ScheduleEvent } from "./events.ts";
import { evolve, fold, nextFireAt, type ScheduleState } from "./state.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const SEC = 1000;
const MIN = 60 * SEC;

const schedule = (catchUp: CatchUpPolicy, cron = "* * * * *"): ScheduleState =>
  fold([
    {
      type: "ScheduleCreated",
      data: { cron, timeZone: "UTC", task: { type: "t" }, catchUp, createdAt: T0 },
    },
  ]);

/** Applies a plan the way the leader does: skip first, then record each firing. */
function apply(state: ScheduleState, plan: CatchUpPlan, now: number): ScheduleState {
  const events: ScheduleEvent[] = [];
  if (plan.skip)
    events.push({ type: "ScheduleFiringsSkipped", data: { ...plan.skip, policy: state.catchUp, at: now } });
  for (const fireAt of plan.fire)
    events.push({ type: "ScheduleFired", data: { fireAt, taskId: "t", error: null, at: now } });
  return events.reduce(evolve, state);
}

describe("catch-up policies", () => {
  it("fires the one due firing on time, whatever the policy", () => {
    for (const policy of ["LATEST", "ALL", "NONE"] as const) {
      expect(planCatchUp(schedule(policy), T0 + MIN + 3)).toEqual({ skip: null, fire: [T0 + MIN] });
    }
  });

  it("plans nothing before the first fire time", () => {
    expect(planCatchUp(schedule("ALL"), T0 + MIN - 1)).toEqual({ skip: null, fire: [] });
  });

  it("after 10 minutes of downtime: LATEST fires the newest, ALL every one, NONE none", () => {
    const now = T0 + 10 * MIN + 30 * SEC;
    expect(planCatchUp(schedule("LATEST"), now)).toEqual({
      skip: { first: T0 + MIN, last: T0 + 9 * MIN, count: 9 },
      fire: [T0 + 10 * MIN],
    });
    expect(planCatchUp(schedule("ALL"), now)).toEqual({
      skip: null,
      fire: Array.from({ length: 10 }, (_, i) => T0 + (i + 1) * MIN),
    });
    expect(planCatchUp(schedule("NONE"), now)).toEqual({
      skip: { first: T0 + MIN, last: T0 + 10 * MIN, count: 10 },
      fire: [],
    });
  });

  it("NONE still fires a firing that is late by no more than the tolerance", () => {
    const now = T0 + 10 * MIN + ON_TIME_TOLERANCE_MS;
    expect(planCatchUp(schedule("NONE"), now)).toEqual({
      skip: { first: T0 + MIN, last: T0 + 9 * MIN, count: 9 },
      fire: [T0 + 10 * MIN],
    });
  });

  it("ALL fires at most the cap, the newest, and records the older ones as skipped", () => {
    const now = T0 + 150 * MIN;
    const plan = planCatchUp(schedule("ALL"), now);
    expect(plan.fire).toHaveLength(CATCH_UP_MAX_FIRINGS);
    expect(plan.fire[0]).toBe(T0 + 51 * MIN);
    expect(plan.fire.at(-1)).toBe(T0 + 150 * MIN);
    expect(plan.skip).toEqual({ first: T0 + MIN, last: T0 + 50 * MIN, count: 50 });
  });

  it("a gap longer than the scan limit is jumped, recorded uncounted, and the plan then settles", () => {
    const state = schedule("LATEST", "* * * * * *");
    const now = T0 + 7 * 24 * 3600 * SEC + 500; // a week of a per-second schedule
    const plan = planCatchUp(state, now);
    expect(plan.fire).toEqual([now - 500]);
    expect(plan.skip).toEqual({ first: T0 + SEC, last: now - 500 - SEC, count: null });
    const after = apply(state, plan, now);
    expect(planCatchUp(after, now)).toEqual({ skip: null, fire: [] });
    expect(nextFireAt(after)).toBe(now - 500 + SEC);
  });

  it("ALL over a gap beyond the scan limit fires the newest cap of firings", () => {
    const now = T0 + (CATCH_UP_SCAN_LIMIT + 500) * SEC;
    const plan = planCatchUp(schedule("ALL", "* * * * * *"), now);
    expect(plan.fire).toHaveLength(CATCH_UP_MAX_FIRINGS);
    expect(plan.fire.at(-1)).toBe(now);
    expect(plan.skip?.last).toBe(plan.fire[0]! - SEC);
    expect(plan.skip?.count).toBeNull();
  });

  it("every planned firing is the next fire time when recorded in order: none passed over unrecorded", () => {
    for (const policy of ["LATEST", "ALL", "NONE"] as const) {
      let state = schedule(policy);
      for (const now of [T0 + 3 * MIN + 10, T0 + 3 * MIN + 20, T0 + 7 * MIN + 6 * SEC, T0 + 8 * MIN + 1]) {
        const plan = planCatchUp(state, now);
        if (plan.skip) state = apply(state, { skip: plan.skip, fire: [] }, now);
        for (const fireAt of plan.fire) {
          expect(nextFireAt(state)).toBe(fireAt);
          state = apply(state, { skip: null, fire: [fireAt] }, now);
        }
      }
      expect(nextFireAt(state)).toBe(T0 + 9 * MIN);
    }
  });

  it("plans nothing for a paused or deleted schedule", () => {
    const created = schedule("ALL");
    const paused = evolve(created, { type: "SchedulePaused", data: { at: T0 } });
    const deleted = evolve(created, { type: "ScheduleDeleted", data: { at: T0 } });
    expect(planCatchUp(paused, T0 + 60 * MIN)).toEqual({ skip: null, fire: [] });
    expect(planCatchUp(deleted, T0 + 60 * MIN)).toEqual({ skip: null, fire: [] });
  });
});
