import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TaskCommand } from "../domain/task/index.ts";
import { START_COALESCE_MS, StartCoalescer } from "./start-coalescer.ts";

const start = (attempt: number): TaskCommand => ({
  type: "StartAttempt",
  data: { attempt, workerId: "w-1", now: attempt },
});

describe("StartCoalescer", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A coalescer whose lone writes are kept in order. */
  const coalescer = () => {
    const written: [string, TaskCommand][] = [];
    return { starts: new StartCoalescer((taskId, command) => void written.push([taskId, command])), written };
  };

  it("gives a held start to the result that takes it, and never writes it alone", () => {
    const { starts, written } = coalescer();
    starts.hold("t", start(1));
    vi.advanceTimersByTime(START_COALESCE_MS - 1);

    expect(starts.take("t")).toEqual(start(1));
    expect(starts.take("t")).toBeUndefined();
    vi.advanceTimersByTime(10 * START_COALESCE_MS);
    expect(written).toEqual([]);
    expect(starts.size).toBe(0);
  });

  it("writes a start no result took, alone, once the delay is over", () => {
    const { starts, written } = coalescer();
    starts.hold("t", start(1));

    vi.advanceTimersByTime(START_COALESCE_MS - 1);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(written).toEqual([["t", start(1)]]);
    expect(starts.take("t")).toBeUndefined();
  });

  it("holds one start per task: a newer one replaces the older, with a delay of its own", () => {
    const { starts, written } = coalescer();
    starts.hold("t", start(1));
    vi.advanceTimersByTime(START_COALESCE_MS / 2);
    starts.hold("t", start(2));
    starts.hold("other", start(1));

    vi.advanceTimersByTime(START_COALESCE_MS / 2);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(START_COALESCE_MS / 2);
    expect(written).toEqual([
      ["t", start(2)],
      ["other", start(1)],
    ]);
  });

  it("drops every held start when closed", () => {
    const { starts, written } = coalescer();
    starts.hold("a", start(1));
    starts.hold("b", start(1));
    starts.close();
    vi.advanceTimersByTime(10 * START_COALESCE_MS);
    expect(written).toEqual([]);
    expect(starts.size).toBe(0);
  });
});
