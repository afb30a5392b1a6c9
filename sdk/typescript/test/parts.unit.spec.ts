import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Backoff } from "../src/backoff.ts";
import { NonRetryableError, describeError } from "../src/errors.ts";
import { ReportBuffer } from "../src/reports.ts";

describe("Backoff", () => {
  it("doubles from 100 ms to a 5 s cap, with jitter within the upper half of each step", () => {
    const low = new Backoff({ random: () => 0 });
    expect(Array.from({ length: 8 }, () => low.next())).toEqual([50, 100, 200, 400, 800, 1600, 2500, 2500]);
    const high = new Backoff({ random: () => 1 });
    expect([high.next(), high.next()]).toEqual([100, 200]);
    high.reset();
    expect(high.next()).toBe(100);
  });

  it("never exceeds the cap nor goes below half the first step", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 60 }),
        (randoms) => {
          let i = 0;
          const backoff = new Backoff({ random: () => randoms[i++ % randoms.length]! });
          for (const _ of randoms) {
            const delay = backoff.next();
            expect(delay).toBeGreaterThanOrEqual(50);
            expect(delay).toBeLessThanOrEqual(5000);
          }
        },
      ),
    );
  });
});

describe("describeError", () => {
  class Custom extends NonRetryableError {}

  it("reports name or class name, message and the non-retryable flag", () => {
    expect(describeError(new Custom("x"))).toEqual({ message: "x", errorType: "Custom", nonRetryable: true });
    expect(describeError(new Error("plain"))).toEqual({
      message: "plain",
      errorType: "Error",
      nonRetryable: false,
    });
    expect(describeError("just a string")).toEqual({
      message: "just a string",
      errorType: "Error",
      nonRetryable: false,
    });
    expect(describeError({ name: "Odd", message: "m", nonRetryable: true })).toEqual({
      message: "m",
      errorType: "Odd",
      nonRetryable: true,
    });
  });
});

describe("ReportBuffer", () => {
  it("keeps results until acked, and hands deferred reports over once, before the results", async () => {
    const buffer = new ReportBuffer();
    buffer.keep({ $case: "completed", value: { taskId: "a", attempt: 1, resultJson: "1" } });
    buffer.defer({ $case: "started", value: { taskId: "b", attempt: 1 } });
    buffer.defer({ $case: "progress", value: { taskId: "b", attempt: 1, detailsJson: "1" } });
    buffer.defer({ $case: "progress", value: { taskId: "b", attempt: 1, detailsJson: "2" } });
    expect(buffer.drain().map((m) => `${m.$case}:${JSON.stringify(m.value)}`)).toEqual([
      'started:{"taskId":"b","attempt":1}',
      'progress:{"taskId":"b","attempt":1,"detailsJson":"2"}',
      'completed:{"taskId":"a","attempt":1,"resultJson":"1"}',
    ]);
    expect(buffer.drain().map((m) => m.$case)).toEqual(["completed"]);
    expect(buffer.unacknowledged()).toEqual([{ taskId: "a", attempt: 1 }]);
    expect(await buffer.whenEmpty(1)).toBe(false);
    const empty = buffer.whenEmpty(1000);
    expect(buffer.acknowledge("a", 2)).toBe(false);
    expect(buffer.acknowledge("a", 1)).toBe(true);
    expect(await empty).toBe(true);
    expect(buffer.size).toBe(0);
  });
});
