import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { layout, preferences } from "./rendezvous.ts";

const members = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:50051`);
/** Partitions owned afterwards by a member that did not own them before. */
const moved = (before: Map<string, number[]>, after: Map<string, number[]>) =>
  [...after].reduce((sum, [m, ps]) => sum + ps.filter((p) => !(before.get(m) ?? []).includes(p)).length, 0);

describe("rendezvous hashing of partitions over dispatchers, with bounded loads", () => {
  it("gives every partition exactly one owner, the same whatever order the members are listed in", () => {
    const three = members(3);
    const a = layout(64, three);
    const b = layout(64, [...three].reverse());
    expect(a).toEqual(b);
    const all = [...a.values()].flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 64 }, (_, p) => p));
  });

  it("gives each member ⌊P/N⌋ or ⌈P/N⌉ partitions, whatever the members' names", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 9 }),
        fc.integer({ min: 1, max: 300 }),
        (names, partitions) => {
          const counts = [...layout(partitions, names).values()].map((owned) => owned.length);
          for (const count of counts) {
            expect(count).toBeGreaterThanOrEqual(Math.floor(partitions / names.length));
            expect(count).toBeLessThanOrEqual(Math.ceil(partitions / names.length));
          }
        },
      ),
    );
  });

  it("moves at most half as many partitions again as the 1/N it must when a member joins or leaves", () => {
    for (const partitions of [8, 16, 128, 256])
      for (let n = 2; n <= 6; n++) {
        const before = layout(partitions, members(n - 1));
        const after = layout(partitions, members(n));
        const ideal = Math.ceil(partitions / n);
        // Joining: the newcomer's share, and some more shuffled to keep the loads bounded.
        expect(moved(before, after)).toBeLessThanOrEqual(Math.floor(ideal * 1.5) + 2);
        expect(moved(after, before)).toBeLessThanOrEqual(Math.floor(ideal * 1.5) + 2);
      }
  });

  it("names a next in line for each partition, every member once", () => {
    const list = members(3);
    const lines = preferences(16, list);
    for (const line of lines) expect([...line].sort()).toEqual([...list].sort());
    expect(preferences(4, [])).toEqual([[], [], [], []]);
  });
});
