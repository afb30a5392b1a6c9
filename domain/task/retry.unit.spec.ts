import { describe, expect, it } from "vitest";
import { hasAttemptsLeft, retryDelayMs } from "./retry.ts";
import type { RetryPolicy } from "./spec.ts";

const policy: RetryPolicy = {
  maxAttempts: 10,
  initialBackoffMs: 1_000,
  backoffMultiplier: 2,
  maxBackoffMs: 60_000,
};

describe("retryDelayMs", () => {
  it("grows exponentially from the initial backoff", () => {
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(policy, attempt, 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000,
    ]);
  });

  it("uses the multiplier as the base", () => {
    const triple = { ...policy, initialBackoffMs: 100, backoffMultiplier: 3 };
    expect([1, 2, 3].map((attempt) => retryDelayMs(triple, attempt, 1))).toEqual([100, 300, 900]);
  });

  it("caps at maxBackoffMs", () => {
    expect(retryDelayMs(policy, 6, 1)).toBe(32_000);
    expect(retryDelayMs(policy, 7, 1)).toBe(60_000);
    expect(retryDelayMs(policy, 50, 1)).toBe(60_000);
    expect(retryDelayMs(policy, 5_000, 1)).toBe(60_000); // 2^4999 is Infinity: still capped
  });

  it("treats attempts below 1 as the first", () => {
    expect(retryDelayMs(policy, 0, 1)).toBe(1_000);
    expect(retryDelayMs(policy, -3, 1)).toBe(1_000);
  });

  it("gives no delay with jitter 0", () => {
    expect(retryDelayMs(policy, 1, 0)).toBe(0);
    expect(retryDelayMs(policy, 20, 0)).toBe(0);
  });

  it("gives the full delay with jitter 1", () => {
    expect(retryDelayMs(policy, 3, 1)).toBe(4_000);
    expect(retryDelayMs(policy, 20, 1)).toBe(60_000);
  });

  it("halves the delay with jitter 0.5", () => {
    expect(retryDelayMs(policy, 3, 0.5)).toBe(2_000);
    expect(retryDelayMs(policy, 20, 0.5)).toBe(30_000);
  });

  it("rounds down to whole milliseconds", () => {
    expect(retryDelayMs({ ...policy, initialBackoffMs: 1_001 }, 1, 0.5)).toBe(500);
  });

  it("clamps jitter into [0, 1]", () => {
    expect(retryDelayMs(policy, 2, -0.5)).toBe(0);
    expect(retryDelayMs(policy, 2, 1.5)).toBe(2_000);
  });
});

describe("hasAttemptsLeft", () => {
  it("is true before the last attempt and false from it on", () => {
    expect([1, 2, 3, 4].map((attempt) => hasAttemptsLeft(3, attempt))).toEqual([true, true, false, false]);
  });
});
