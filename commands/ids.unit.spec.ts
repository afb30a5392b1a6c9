import { describe, expect, it } from "vitest";
import { validate, version } from "uuid";
import { newId } from "./ids.ts";

describe("newId", () => {
  it("makes valid, distinct UUIDv7s carrying the given time", () => {
    const ids = Array.from({ length: 1000 }, () => newId(1_700_000_000_000));
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids.slice(0, 20)) {
      expect(validate(id) && version(id)).toBe(7);
      expect(parseInt(id.replaceAll("-", "").slice(0, 12), 16)).toBe(1_700_000_000_000);
    }
  });
});
