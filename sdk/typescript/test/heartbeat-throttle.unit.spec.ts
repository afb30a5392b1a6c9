import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_HEARTBEAT_WINDOW_MS, HeartbeatThrottle } from "../src/heartbeat-throttle.ts";

describe("HeartbeatThrottle", () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it("sends the first beat at once and at most one per 80% of the heartbeat timeout, the latest winning", () => {
    const sent: string[] = [];
    const throttle = new HeartbeatThrottle(1000, (d) => sent.push(d));
    throttle.beat("1");
    for (let i = 2; i <= 10; i++) throttle.beat(String(i));
    expect(sent).toEqual(["1"]);
    vi.advanceTimersByTime(799);
    expect(sent).toEqual(["1"]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual(["1", "10"]);
    throttle.beat("11");
    vi.advanceTimersByTime(800);
    expect(sent).toEqual(["1", "10", "11"]);
  });

  it("uses a 30 s window when the task has no heartbeat timeout", () => {
    const sent: string[] = [];
    const throttle = new HeartbeatThrottle(0, (d) => sent.push(d));
    throttle.beat("a");
    throttle.beat("b");
    vi.advanceTimersByTime(DEFAULT_HEARTBEAT_WINDOW_MS - 1);
    expect(sent).toEqual(["a"]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual(["a", "b"]);
  });

  it("flushes held-back details on demand and drops them when cancelled", () => {
    const sent: string[] = [];
    const throttle = new HeartbeatThrottle(1000, (d) => sent.push(d));
    throttle.beat("a");
    throttle.beat("b");
    throttle.flush();
    expect(sent).toEqual(["a", "b"]);
    throttle.beat("c");
    throttle.cancel();
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual(["a", "b"]);
  });
});
