import { describe, expect, it } from "vitest";
import {
  advance,
  covers,
  decodePosition,
  encodePosition,
  parseStreamId,
  type FeedPosition,
} from "./feed-position.ts";

describe("feed positions and cursors", () => {
  it("cover what a partition has seen, move only forward, and survive a cursor round trip", () => {
    const position: FeedPosition = new Map();
    expect(covers(position, 0, [1, 0])).toBe(false);
    advance(position, 0, parseStreamId("1700000000000-5"));
    advance(position, 0, parseStreamId("1700000000000-2"));
    advance(position, 3, parseStreamId("1700000000001-0"));
    expect(position.get(0)).toEqual([1_700_000_000_000, 5]);
    expect(covers(position, 0, [1_700_000_000_000, 5])).toBe(true);
    expect(covers(position, 0, [1_700_000_000_000, 6])).toBe(false);
    expect(covers(position, 1, [1, 0])).toBe(false);
    expect(decodePosition(encodePosition(position))).toEqual(position);
    expect(decodePosition(encodePosition(new Map()))).toEqual(new Map());
  });

  it("refuses anything that is not a cursor", () => {
    for (const bad of [
      "not*base64",
      Buffer.from("0:abc-1").toString("base64url"),
      Buffer.from("x").toString("base64url"),
    ])
      expect(decodePosition(bad)).toBeNull();
    expect(decodePosition("a".repeat(20_000))).toBeNull();
  });
});
