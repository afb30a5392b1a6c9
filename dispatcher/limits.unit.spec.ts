import { describe, expect, it } from "vitest";
import { DispatchLimits } from "./limits.ts";
import type { ReadyTask } from "./ready-queue.ts";
import { FixedSettings } from "./testing/term-doubles.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
let next = 0;
const task = (type: string, concurrencyKey: string | null = null, concurrencyLimit?: number): ReadyTask => ({
  taskId: `t-${next++}`,
  type,
  priority: 5,
  requires: {},
  concurrencyKey,
  concurrencyLimit,
});

/** Takes tokens from `type`'s bucket at `now` while it is open; returns how many. */
function drain(limits: DispatchLimits, type: string, now: number): number {
  limits.begin(now);
  let taken = 0;
  while (limits.typeOpen(type)) {
    limits.acquire(task(type));
    taken++;
    if (taken > 1000) throw new Error("the bucket never empties");
  }
  return taken;
}

describe("DispatchLimits token bucket", () => {
  it("lets a queue without a rate through without limit", () => {
    const limits = new DispatchLimits(new FixedSettings({ free: { ratePerSecond: 0 } }));
    limits.begin(T0);
    for (let i = 0; i < 100; i++) limits.acquire(task("free"));
    expect(limits.typeOpen("free")).toBe(true);
    expect(limits.typeOpen("never-configured")).toBe(true);
    expect(limits.nextRefillInMs()).toBeNull();
  });

  it("starts full: a burst at once, then nothing until a token is due", () => {
    // 4 a second: one token every 250 ms (rates and times exact in binary, so no rounding here).
    const limits = new DispatchLimits(new FixedSettings({ metered: { ratePerSecond: 4, burst: 3 } }));
    expect(drain(limits, "metered", T0)).toBe(3);
    expect(limits.nextRefillInMs()).toBe(250);
    expect(drain(limits, "metered", T0 + 125)).toBe(0);
    expect(limits.nextRefillInMs()).toBe(125); // half a token held: half the wait left
    expect(drain(limits, "metered", T0 + 249)).toBe(0);
    expect(drain(limits, "metered", T0 + 250)).toBe(1);
    expect(drain(limits, "metered", T0 + 750)).toBe(2);
  });

  it("holds the sustained rate under a backlog, however often it is asked", () => {
    const limits = new DispatchLimits(new FixedSettings({ metered: { ratePerSecond: 10, burst: 2 } }));
    let dispatched = 0;
    for (let now = T0; now <= T0 + 10_000; now += 7) dispatched += drain(limits, "metered", now);
    // The burst at once, then 10 a second for 10 s (the last token may fall short by a rounding).
    expect(dispatched).toBeGreaterThanOrEqual(2 + 100 - 1);
    expect(dispatched).toBeLessThanOrEqual(2 + 100);
  });

  it("holds the rate when the matcher looks again when told (nextRefillInMs)", () => {
    const limits = new DispatchLimits(new FixedSettings({ metered: { ratePerSecond: 10, burst: 1 } }));
    let dispatched = 0;
    for (let now = T0; now <= T0 + 10_000; now += limits.nextRefillInMs() ?? 1)
      dispatched += drain(limits, "metered", now);
    expect(dispatched).toBeGreaterThanOrEqual(1 + 100 - 1);
    expect(dispatched).toBeLessThanOrEqual(1 + 100);
  });

  it("refills at most a burst, however long the queue was idle", () => {
    const limits = new DispatchLimits(new FixedSettings({ metered: { ratePerSecond: 5, burst: 2 } }));
    drain(limits, "metered", T0);
    expect(drain(limits, "metered", T0 + 3_600_000)).toBe(2);
  });

  it("counts a bucket of burst 0 as one token, so a rate still dispatches", () => {
    const limits = new DispatchLimits(new FixedSettings({ metered: { ratePerSecond: 1, burst: 0 } }));
    expect(drain(limits, "metered", T0)).toBe(1);
    expect(drain(limits, "metered", T0 + 999)).toBe(0);
    expect(drain(limits, "metered", T0 + 1000)).toBe(1);
  });

  it("keeps each queue's bucket apart, and wakes for the soonest refill", () => {
    const limits = new DispatchLimits(
      new FixedSettings({ slow: { ratePerSecond: 1, burst: 1 }, fast: { ratePerSecond: 20, burst: 1 } }),
    );
    drain(limits, "slow", T0);
    expect(limits.nextRefillInMs()).toBe(1000);
    drain(limits, "fast", T0);
    expect(limits.nextRefillInMs()).toBe(50);
    expect(drain(limits, "fast", T0 + 50)).toBe(1);
    expect(drain(limits, "slow", T0 + 50)).toBe(0);
  });
});

describe("DispatchLimits concurrency", () => {
  it("runs at most the declared limit per key, and frees a slot on release", () => {
    const limits = new DispatchLimits(new FixedSettings());
    const [a, b, c] = [task("job", "tenant", 2), task("job", "tenant", 2), task("job", "tenant", 2)];
    const elsewhere = task("job", "other", 2);
    limits.acquire(a);
    limits.acquire(b);

    expect(limits.taskOpen(c)).toBe(false);
    expect(limits.taskOpen(elsewhere)).toBe(true);
    limits.release(a.taskId);
    expect(limits.taskOpen(c)).toBe(true);
    limits.release(a.taskId); // a second release of the same task frees nothing more
    limits.acquire(c);
    expect(limits.taskOpen(task("job", "tenant", 2))).toBe(false);
  });

  it("counts a task held on rebuild once, however often it is held", () => {
    const limits = new DispatchLimits(new FixedSettings());
    limits.hold("running", "tenant");
    limits.hold("running", "tenant");
    expect(limits.taskOpen(task("job", "tenant", 2))).toBe(true);
    limits.hold("also-running", "tenant");
    expect(limits.taskOpen(task("job", "tenant", 2))).toBe(false);
  });

  it("lets an operator's override beat the limit a task declares; one when neither says", () => {
    const limits = new DispatchLimits(new FixedSettings({}, { tenant: 3 }));
    limits.hold("x", "tenant");
    limits.hold("y", "tenant");
    expect(limits.taskOpen(task("job", "tenant", 1))).toBe(true);
    limits.hold("z", "tenant");
    expect(limits.taskOpen(task("job", "tenant", 10))).toBe(false);
    limits.hold("w", "solo");
    expect(limits.taskOpen(task("job", "solo"))).toBe(false);
  });
});
