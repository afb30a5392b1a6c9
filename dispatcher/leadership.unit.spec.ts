import { describe, expect, it } from "vitest";
import { defaultMarginMs } from "./leadership.ts";

describe("leadership trust window", () => {
  it("spans at least two keepalive intervals (TTL / 3) for every allowed TTL", () => {
    for (let ttlSeconds = 2; ttlSeconds <= 300; ttlSeconds++) {
      const windowMs = ttlSeconds * 1000 - defaultMarginMs(ttlSeconds);
      const keepaliveEveryMs = (ttlSeconds * 1000) / 3;
      expect(windowMs, `TTL ${ttlSeconds} s`).toBeGreaterThanOrEqual(2 * keepaliveEveryMs);
    }
  });

  it("keeps a 2 s margin once the TTL is long enough", () => {
    expect(defaultMarginMs(10)).toBe(2000);
    expect(defaultMarginMs(3)).toBe(1000);
  });
});
