import { describe, expect, it } from "vitest";
import { layout, preference } from "./rendezvous.ts";

const members = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:50051`);

describe("rendezvous hashing of partitions over dispatchers", () => {
  it("gives every partition exactly one owner, the same whatever order the members are listed in", () => {
    const three = members(3);
    const a = layout(64, three);
    const b = layout(64, [...three].reverse());
    expect(a).toEqual(b);
    const all = [...a.values()].flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 64 }, (_, p) => p));
  });

  it("spreads the partitions roughly evenly", () => {
    const owned = layout(256, members(4));
    for (const partitions of owned.values()) {
      expect(partitions.length).toBeGreaterThan(256 / 4 / 2);
      expect(partitions.length).toBeLessThan((256 / 4) * 1.5);
    }
  });

  it("a member joining takes partitions only from the others, and leaving gives back only its own", () => {
    const before = layout(128, members(3));
    const after = layout(128, members(4));
    const newcomer = members(4)[3]!;
    for (const member of members(3)) {
      const kept = after.get(member)!;
      // Everything a member owns afterwards it owned before: only the newcomer gains.
      for (const p of kept) expect(before.get(member)).toContain(p);
    }
    expect(after.get(newcomer)!.length).toBeGreaterThan(0);
    // And the reverse: when it leaves, the layout is the old one again.
    expect(layout(128, members(3))).toEqual(before);
  });

  it("names a next in line for each partition: the owner if the first one is gone", () => {
    const list = members(3);
    for (let p = 0; p < 16; p++) {
      const order = preference(p, list);
      expect(new Set(order).size).toBe(3);
      const without = list.filter((m) => m !== order[0]);
      expect(preference(p, without)[0]).toBe(order[1]);
    }
  });
});
