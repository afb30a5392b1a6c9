import { describe, expect, it } from "vitest";
import { TimerQueue, type Timer } from "./timer-queue.ts";

const timer = (at: number, taskId = `t${at}`): Timer => ({ at, taskId, kind: "deadline", token: 1 });

describe("TimerQueue", () => {
  it("pops due timers earliest first and keeps the rest", () => {
    const queue = new TimerQueue();
    for (const at of [50, 10, 40, 20, 30]) queue.push(timer(at));
    expect(queue.popDue(30).map((t) => t.at)).toEqual([10, 20, 30]);
    expect(queue.size).toBe(2);
    expect(queue.peek()?.at).toBe(40);
  });

  it("retain drops the timers it is told are stale and keeps the order of the rest", () => {
    const queue = new TimerQueue();
    for (let at = 100; at > 0; at--) queue.push(timer(at));
    queue.retain((t) => t.at % 3 === 0);
    expect(queue.size).toBe(33);
    queue.push(timer(1, "late"));
    expect(queue.popDue(10).map((t) => t.at)).toEqual([1, 3, 6, 9]);
    expect(queue.popDue(1000)).toHaveLength(30);
  });
});
