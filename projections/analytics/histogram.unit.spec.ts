import { describe, expect, it } from "vitest";
import {
  BUCKETS,
  bucketLowerBound,
  bucketOf,
  bucketUpperBound,
  emptyHistogram,
  quantile,
} from "./histogram.ts";

describe("latency histogram", () => {
  it("puts each duration in the bucket whose bounds hold it", () => {
    for (const ms of [0, 0.5, 1, 1.4, 1.5, 2, 3, 10, 99, 1000, 12_345, 3_600_000]) {
      const j = bucketOf(ms);
      expect(bucketLowerBound(j)).toBeLessThanOrEqual(ms);
      expect(bucketUpperBound(j)).toBeGreaterThan(ms);
    }
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(1e12)).toBe(BUCKETS - 1);
  });

  it("estimates quantiles within a factor of √2 of the exact ones", () => {
    const samples = Array.from({ length: 10_000 }, (_, i) => 1 + ((i * 7919) % 5000));
    const counts = emptyHistogram();
    for (const ms of samples) counts[bucketOf(ms)]!++;
    const sorted = [...samples].sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
      const estimate = quantile(counts, q)!;
      expect(estimate / exact).toBeGreaterThan(1 / Math.SQRT2);
      expect(estimate / exact).toBeLessThan(Math.SQRT2);
    }
  });

  it("answers null for no samples and the lower bound of the open last bucket", () => {
    expect(quantile(emptyHistogram(), 0.5)).toBeNull();
    const counts = emptyHistogram();
    counts[BUCKETS - 1] = 3;
    expect(quantile(counts, 0.99)).toBe(bucketLowerBound(BUCKETS - 1));
  });
});
