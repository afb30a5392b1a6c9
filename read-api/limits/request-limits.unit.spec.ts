import { describe, expect, it } from "vitest";
import { chargeResponse, RequestLimits } from "./request-limits.ts";

describe("request limits", () => {
  it("stop a request past its deadline, and one whose client went away", () => {
    let now = 1000;
    const abandoned = new AbortController();
    const limits = new RequestLimits({ timeoutMs: 50, maxResponseBytes: 100 }, abandoned.signal, () => now);
    expect(() => limits.checkTime()).not.toThrow();
    now = 1051;
    expect(() => limits.checkTime()).toThrow(/time limit of 50 ms/);
    now = 1000;
    abandoned.abort();
    expect(() => limits.checkTime()).toThrow(/client closed the connection/);
  });

  it("count the answer's bytes and stop past the limit", () => {
    const limits = new RequestLimits(
      { timeoutMs: 1000, maxResponseBytes: 100 },
      new AbortController().signal,
    );
    chargeResponse(limits, { a: "x".repeat(50) });
    expect(limits.bytes).toBe(JSON.stringify({ a: "x".repeat(50) }).length);
    chargeResponse(limits, null);
    expect(() => chargeResponse(limits, "y".repeat(60))).toThrow(/response exceeds 100 bytes/);
  });
});
