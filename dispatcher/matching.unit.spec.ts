import { describe, expect, it } from "vitest";
import { matchPass } from "./matching.ts";

class FakeSession {
  readonly name: string;
  readonly wave: number;
  free: number;
  readonly got: number[] = [];
  constructor(name: string, slots: number) {
    this.name = name;
    this.free = slots;
    this.wave = Math.ceil(slots / 2);
  }
  get freeSlots(): number {
    return this.free;
  }
}

/** A queue of numbered tasks that any session may run. */
function run(sessions: FakeSession[], tasks: number, accepts: (s: FakeSession) => boolean = () => true) {
  let next = 0;
  const order: string[] = [];
  const outcome = matchPass(
    sessions,
    () => next < tasks,
    (session) => (accepts(session) ? next++ : undefined),
    (session, task) => {
      session.free--;
      session.got.push(task);
      order.push(session.name);
    },
  );
  return { outcome, order, left: tasks - next };
}

describe("matchPass", () => {
  it("hands a worker at most its wave (half its slots) per pass, and says another pass is due", () => {
    const worker = new FakeSession("w", 50);
    const first = run([worker], 1000);
    expect(worker.got).toHaveLength(25);
    expect(first.outcome).toMatchObject({ waveFull: true, heldBack: false });
    run([worker], 1000);
    expect(worker.got).toHaveLength(50);
    const third = run([worker], 1000);
    expect(worker.got).toHaveLength(50); // no free slot left
    expect(third.outcome.waveFull).toBe(false);
  });

  it("takes turns between workers, one task each per round", () => {
    const a = new FakeSession("a", 4);
    const b = new FakeSession("b", 2);
    const { order } = run([a, b], 100);
    expect(order).toEqual(["a", "b", "a"]); // b's wave is 1, a's is 2
  });

  it("stops when the work runs out, without another pass due", () => {
    const worker = new FakeSession("w", 10);
    const { outcome, left } = run([worker], 3);
    expect(worker.got).toEqual([0, 1, 2]);
    expect(left).toBe(0);
    expect(outcome).toMatchObject({ waveFull: false, heldBack: false });
  });

  it("reports a worker that got nothing it may run as held back", () => {
    const picky = new FakeSession("picky", 4);
    const open = new FakeSession("open", 4);
    const { outcome } = run([picky, open], 100, (s) => s !== picky);
    expect(picky.got).toEqual([]);
    expect(open.got).toHaveLength(2);
    expect(outcome).toMatchObject({ waveFull: true, heldBack: true });
    // The one that got nothing is named: its partition returns the slots it cannot use.
    expect([...outcome.starved]).toEqual([picky]);
  });

  it("gives a one-slot worker its one task", () => {
    const worker = new FakeSession("w", 1);
    run([worker], 5);
    expect(worker.got).toEqual([0]);
  });
});
