import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CreditLedger } from "./credit-ledger.ts";

describe("CreditLedger: a worker's slots lent to partitions", () => {
  it("lends free slots to the most urgent want first, and never more than the slots", () => {
    const ledger = new CreditLedger(5);
    ledger.want(0, { count: 10, priority: 1 });
    ledger.want(1, { count: 2, priority: 9 });
    expect(ledger.lend()).toEqual([
      [1, 2, []],
      [0, 3, []],
    ]);
    expect(ledger.free).toBe(0);
    expect(ledger.lend()).toEqual([]);
  });

  it("an assignment uses a credit; a finished attempt frees its slot; returned credits are free again", () => {
    const ledger = new CreditLedger(2);
    ledger.want(3, { count: 5, priority: 5 });
    expect(ledger.lend()).toEqual([[3, 2, []]]);
    ledger.assigned(3, "a", 1);
    expect(ledger.lentTo(3)).toBe(1);
    expect(ledger.free).toBe(0);
    expect(ledger.finished("a", 2)).toBe(false); // another attempt: not this one
    expect(ledger.finished("a", 1)).toBe(true);
    expect(ledger.free).toBe(1);
    ledger.returned(3, 1);
    expect(ledger.free).toBe(2);
  });

  it("partitions of equal urgency take turns", () => {
    const ledger = new CreditLedger(1);
    for (const p of [0, 1, 2]) ledger.want(p, { count: 100, priority: 5 });
    const order: number[] = [];
    for (let i = 0; i < 6; i++) {
      const [[partition]] = ledger.lend() as [[number, number, number[]]];
      order.push(partition);
      ledger.assigned(partition, `t${i}`, 1);
      ledger.finished(`t${i}`, 1);
    }
    expect(order).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it("a partition passed over K credits is served next, whatever its urgency, and told what ran elsewhere", () => {
    const K = 3;
    const ledger = new CreditLedger(1, new Array<number>(10).fill(K));
    ledger.want(0, { count: 100, priority: 9 });
    ledger.want(1, { count: 1, priority: 0 });
    const served: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [[partition, , elsewhere]] = ledger.lend() as [[number, number, number[]]];
      served.push(partition);
      if (partition === 1) expect(elsewhere[9]).toBe(K);
      ledger.assigned(partition, `t${i}`, 1, partition === 0 ? 9 : 0);
      ledger.finished(`t${i}`, 1);
      if (partition === 1) ledger.want(1, { count: 0, priority: -1 });
    }
    expect(served).toEqual([0, 0, 0, 1, 0]);
  });

  it("forgets what was lent to a partition whose owner changed", () => {
    const ledger = new CreditLedger(4);
    ledger.want(2, { count: 4, priority: 5 });
    ledger.lend();
    expect(ledger.free).toBe(0);
    ledger.reset(2);
    expect(ledger.free).toBe(4);
    expect(ledger.lend()).toEqual([]); // its want went with it
  });

  // The bound: a wanting partition is overdue once K credits went elsewhere (the grant that took it
  // there was at most `slots`); after that only partitions more overdue are served first, each once
  // (served, it starts counting afresh), each grant at most `slots`: K − 1 + P·slots in all.
  it("property: lent slots plus attempts never exceed the worker's slots, and no wanting partition sees more than K − 1 + P·slots credits go elsewhere", () => {
    const K = 4;
    const PARTITIONS = 6;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.record({
            partition: fc.integer({ min: 0, max: 5 }),
            count: fc.integer({ min: 0, max: 6 }),
            priority: fc.integer({ min: 0, max: 9 }),
            finish: fc.boolean(),
          }),
          { maxLength: 200 },
        ),
        (slots, steps) => {
          const ledger = new CreditLedger(slots, new Array<number>(10).fill(K));
          const wants = new Map<number, number>();
          const passed = new Map<number, number>();
          let task = 0;
          for (const step of steps) {
            ledger.want(step.partition, { count: step.count, priority: step.priority });
            wants.set(step.partition, step.count);
            if (step.count === 0) passed.delete(step.partition);
            const lentBefore = new Map([...wants.keys()].map((p) => [p, ledger.lentTo(p)]));
            const grants = ledger.lend();
            for (const [partition, count] of grants) {
              for (const [other, want] of wants)
                if (other !== partition && want > (lentBefore.get(other) ?? 0))
                  passed.set(other, (passed.get(other) ?? 0) + count);
              passed.delete(partition);
              lentBefore.set(partition, (lentBefore.get(partition) ?? 0) + count);
              for (const n of passed.values()) expect(n).toBeLessThanOrEqual(K - 1 + PARTITIONS * slots);
            }
            for (const [partition, count] of grants) {
              // Each credit is used at once; the attempt then ends, or runs on.
              for (let c = 0; c < count; c++) {
                const id = `t${task++}`;
                ledger.assigned(partition, id, 1, step.priority);
                if (step.finish) ledger.finished(id, 1);
              }
            }
            let lent = 0;
            for (let p = 0; p <= 5; p++) lent += ledger.lentTo(p);
            expect(lent + ledger.attempts.size).toBeLessThanOrEqual(slots);
          }
        },
      ),
    );
  });
});
