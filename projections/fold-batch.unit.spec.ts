import { describe, expect, it } from "vitest";
import type { TaskEvent } from "../domain/task/index.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { compareStreamIds } from "../event-store/stream-ids.ts";
import { findGaps, foldBatch } from "./fold-batch.ts";
import type { TaskRow } from "./task-row.ts";
import { on, succeededLife } from "./testing/read-model-fixture.ts";

const stored = (taskId: string, events: TaskEvent[], firstVersion = 1): StoredEvent[] =>
  events.map((event, i) => ({
    ...event,
    taskId,
    version: firstVersion + i,
    streamId: `1000-${firstVersion + i}`,
    partition: 2,
  }));

describe("foldBatch", () => {
  it("folds a new task's events into one row", () => {
    const { changed, applied } = foldBatch(stored("a", succeededLife(10, { ok: 1 })), new Map());
    expect(applied).toHaveLength(4);
    expect(changed).toEqual([
      expect.objectContaining({
        id: "a",
        state: "SUCCEEDED",
        version: 4,
        result: { ok: 1 },
        partition: 2,
        lastStreamId: "1000-4",
      }),
    ]);
  });

  it("folding the same batch onto its own result changes nothing", () => {
    const batch = stored("a", succeededLife(10));
    const first = foldBatch(batch, new Map());
    const rows = new Map<string, TaskRow>(first.changed.map((row) => [row.id, row]));
    expect(foldBatch(batch, rows)).toEqual({ changed: [], applied: [] });
  });

  it("continues from a row: the row's state, then the events above its version", () => {
    const life = succeededLife(10, "done");
    const head = foldBatch(stored("a", life.slice(0, 2)), new Map()).changed[0]!;
    const { changed, applied } = foldBatch(stored("a", life), new Map([["a", head]]));
    expect(applied.map((e) => e.version)).toEqual([3, 4]);
    expect(changed[0]).toEqual(foldBatch(stored("a", life), new Map()).changed[0]);
  });

  it("refuses a history that does not start with TaskSubmitted", () => {
    expect(() => foldBatch(stored("a", [on.assigned(1, 5)]), new Map())).toThrow(/TaskSubmitted/);
  });
});

describe("findGaps", () => {
  it("names a task whose first new event does not follow its row's version", () => {
    const row = foldBatch(stored("a", [on.submitted(1)]), new Map()).changed[0]!;
    const rows = new Map([["a", row]]);
    expect(findGaps(stored("a", [on.assigned(1, 2)], 2), rows)).toEqual(new Map());
    expect(findGaps(stored("a", [on.started(1, 3)], 3), rows)).toEqual(new Map([["a", 3]]));
    expect(findGaps(stored("b", [on.started(1, 3)], 3), rows)).toEqual(new Map([["b", 3]]));
  });
});

describe("compareStreamIds", () => {
  it("orders by time, then sequence, numerically", () => {
    expect(compareStreamIds("1700000000000-2", "1700000000000-10")).toBeLessThan(0);
    expect(compareStreamIds("1700000000001-0", "1700000000000-99")).toBeGreaterThan(0);
    expect(compareStreamIds("5-5", "5-5")).toBe(0);
    expect(compareStreamIds("0-0", "1-0")).toBeLessThan(0);
  });

  it("agrees with a numeric comparison on random ids", () => {
    const numeric = (a: string, b: string) => {
      const [aMs, aSeq] = a.split("-").map(BigInt) as [bigint, bigint];
      const [bMs, bSeq] = b.split("-").map(BigInt) as [bigint, bigint];
      return aMs === bMs ? Math.sign(Number(aSeq - bSeq)) : aMs < bMs ? -1 : 1;
    };
    const randomId = () =>
      `${Math.floor(Math.random() ** 3 * 2e12)}-${Math.floor(Math.random() ** 4 * 1500)}`;
    for (let i = 0; i < 5000; i++) {
      const a = randomId();
      const b =
        i % 7 === 0 ? a : i % 5 === 0 ? `${a.split("-")[0]}-${Math.floor(Math.random() * 20)}` : randomId();
      expect([a, b, Math.sign(compareStreamIds(a, b))]).toEqual([a, b, numeric(a, b)]);
    }
  });
});
