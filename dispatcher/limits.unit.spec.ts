import { describe, expect, it, vi } from "vitest";
import { MemoryLimits } from "../queues/memory-limits.ts";
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

/** Takes tokens from the shared bucket at `now`, one at a time, while it gives them; returns how many. */
async function drain(bucket: MemoryLimits, clock: { now: number }, now: number, rate: number, burst: number) {
  clock.now = now;
  let taken = 0;
  while ((await bucket.takeTokens("metered", rate, Math.max(1, burst), 1)).granted === 1) {
    taken++;
    if (taken > 1000) throw new Error("the bucket never empties");
  }
  return taken;
}

describe("the shared token bucket (in memory; the Redis one runs the same arithmetic in Lua)", () => {
  const bucket = () => {
    const clock = { now: T0 };
    return { clock, limits: new MemoryLimits(() => clock.now) };
  };

  it("starts full: a burst at once, then nothing until a token is due, and says how long", async () => {
    // 4 a second: one token every 250 ms (rates and times exact in binary, so no rounding here).
    const { clock, limits } = bucket();
    expect(await drain(limits, clock, T0, 4, 3)).toBe(3);
    expect((await limits.takeTokens("metered", 4, 3, 1)).waitMs).toBe(250);
    clock.now = T0 + 125;
    expect(await limits.takeTokens("metered", 4, 3, 1)).toEqual({ granted: 0, waitMs: 125 });
    expect(await drain(limits, clock, T0 + 249, 4, 3)).toBe(0);
    expect(await drain(limits, clock, T0 + 250, 4, 3)).toBe(1);
    expect(await drain(limits, clock, T0 + 750, 4, 3)).toBe(2);
  });

  it("holds the sustained rate under a backlog, however often it is asked", async () => {
    const { clock, limits } = bucket();
    let dispatched = 0;
    for (let now = T0; now <= T0 + 10_000; now += 7) dispatched += await drain(limits, clock, now, 10, 2);
    // The burst at once, then 10 a second for 10 s (the last token may fall short by a rounding).
    expect(dispatched).toBeGreaterThanOrEqual(2 + 100 - 1);
    expect(dispatched).toBeLessThanOrEqual(2 + 100);
  });

  it("grants several at once when asked, never more than it holds", async () => {
    const { clock, limits } = bucket();
    expect((await limits.takeTokens("metered", 100, 10, 4)).granted).toBe(4);
    expect((await limits.takeTokens("metered", 100, 10, 50)).granted).toBe(6);
    clock.now = T0 + 30;
    expect((await limits.takeTokens("metered", 100, 10, 50)).granted).toBe(3);
  });

  it("refills at most a burst, however long the queue was idle", async () => {
    const { clock, limits } = bucket();
    await drain(limits, clock, T0, 5, 2);
    expect(await drain(limits, clock, T0 + 3_600_000, 5, 2)).toBe(2);
  });
});

describe("DispatchLimits over the shared bucket", () => {
  it("lets a queue without a rate through without limit", () => {
    const limits = new DispatchLimits(new FixedSettings({ free: { ratePerSecond: 0 } }));
    limits.begin(T0);
    for (let i = 0; i < 100; i++) limits.acquire(task("free"));
    expect(limits.typeOpen("free")).toBe(true);
    expect(limits.typeOpen("never-configured")).toBe(true);
    expect(limits.nextRefillInMs()).toBeNull();
  });

  it("is closed until tokens arrive from the shared bucket, then wakes the matcher and opens", async () => {
    let woken = 0;
    const limits = new DispatchLimits(
      new FixedSettings({ metered: { ratePerSecond: 4, burst: 3 } }),
      new MemoryLimits(),
      0,
      () => woken++,
    );
    limits.begin(Date.now());
    expect(limits.typeOpen("metered")).toBe(false); // asks the bucket
    await vi.waitFor(() => expect(woken).toBe(1));
    expect(limits.typeOpen("metered")).toBe(true);
    limits.acquire(task("metered"));
    // One token a fetch at this rate (50 ms worth rounds down to less than one): the next comes on asking again.
    expect(limits.typeOpen("metered")).toBe(false);
    await vi.waitFor(() => expect(woken).toBe(2));
    expect(limits.typeOpen("metered")).toBe(true);
  });

  it("after the bucket runs dry, waits the time the bucket names before asking again", async () => {
    let woken = 0;
    const limits = new DispatchLimits(
      new FixedSettings({ metered: { ratePerSecond: 1, burst: 1 } }),
      new MemoryLimits(),
      0,
      () => woken++,
    );
    limits.begin(Date.now());
    limits.typeOpen("metered");
    await vi.waitFor(() => expect(woken).toBe(1));
    limits.acquire(task("metered"));
    limits.typeOpen("metered"); // the bucket is empty: refused, with a wait of about a second
    await vi.waitFor(() => expect(woken).toBe(2));
    limits.begin(Date.now());
    expect(limits.typeOpen("metered")).toBe(false);
    expect(limits.nextRefillInMs()).toBeGreaterThanOrEqual(800);
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

  it("shares a key's limit with the other partitions through the permits", async () => {
    const shared = new MemoryLimits();
    const [p0, p1] = [
      new DispatchLimits(new FixedSettings(), shared, 0),
      new DispatchLimits(new FixedSettings(), shared, 1),
    ];
    const [a, b] = [task("job", "tenant", 1), task("job", "tenant", 1)];
    p0.acquire(a);
    expect(await p0.permit(a)).toBe(true);
    expect(p1.taskOpen(b)).toBe(true); // partition 1 runs nothing of the key itself
    p1.acquire(b);
    expect(await p1.permit(b)).toBe(false); // but the key is full across the partitions
    p1.release(b.taskId);
    p1.begin(Date.now());
    expect(p1.taskOpen(task("job", "tenant", 1))).toBe(false); // not asked again at once
    p0.release(a.taskId);
    await vi.waitFor(async () => expect(await shared.permitsOf(0)).toEqual(new Map()));
    expect(await p1.permit(b)).toBe(true);
    expect(await shared.permitsOf(1)).toEqual(new Map([["tenant", [b.taskId]]]));
  });
});
