import { describe, expect, it } from "vitest";
import { actorOf, describeActor, formatActor, parseActor, type Actor } from "./actor.ts";

describe("actors", () => {
  it("round-trip through their stored form", () => {
    const actors: Actor[] = [
      { kind: "key", keyId: "k7f3a9" },
      { kind: "anonymous" },
      { kind: "worker", workerId: "0190a0a0-0000-7000-8000-000000000000", session: "x1y2" },
      { kind: "dispatcher", epoch: 42 },
      { kind: "scheduler", epoch: 7 },
    ];
    for (const actor of actors) expect(parseActor(formatActor(actor))).toEqual(actor);
  });

  it("reads events without one, and unknown forms, as not recorded", () => {
    expect(actorOf({ data: { reason: "x" } })).toBeNull();
    expect(actorOf({ data: { actor: "k:abc" } })).toBe("k:abc");
    expect(parseActor("z:1")).toBeNull();
    expect(parseActor("d:not-a-number")).toBeNull();
    expect(describeActor(null)).toBe("not recorded");
    expect(describeActor("z:1")).toBe("unknown (z:1)");
    expect(describeActor("s:3")).toBe("scheduler epoch 3");
  });
});
