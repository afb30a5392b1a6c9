import { describe, expect, it } from "vitest";
import { count, duration, formatProgress, ProgressDisplay } from "./progress.ts";

describe("progress display", () => {
  it("formats a line with the bar, the share, the figures, the rate and the time left", () => {
    const line = formatProgress(
      { phase: "archive", done: 50_000, total: 200_000, unit: "events", extra: "12,000 tasks" },
      25_000,
      true,
    );
    expect(line).toBe(
      "archive  [######..................]   25%  50,000/200,000 events  25,000 events/s  12,000 tasks  ETA 6s",
    );
    expect(formatProgress({ phase: "log", done: 10, total: 0, unit: "events" }, 0, false)).toBe(
      "log      10 events",
    );
  });

  it("writes durations and counts for people", () => {
    expect(duration(0.2)).toBe("1s");
    expect(duration(185)).toBe("3m05s");
    expect(duration(3720)).toBe("1h02m");
    expect(count(1234567.4)).toBe("1,234,567");
  });

  it("redraws one line in place on a terminal, at most every redrawMs, with the rate over recent samples", () => {
    let now = 0;
    const out: string[] = [];
    const display = new ProgressDisplay((text) => out.push(text), {
      tty: true,
      redrawMs: 100,
      now: () => now,
    });
    display.update({ phase: "log", done: 0, total: 1000, unit: "events" });
    now = 50;
    display.update({ phase: "log", done: 100, total: 1000, unit: "events" }); // too soon: not drawn
    now = 1000;
    display.update({ phase: "log", done: 500, total: 1000, unit: "events" });
    display.end();
    expect(out).toHaveLength(3);
    expect(out[0]!.startsWith("\r\x1b[2Klog")).toBe(true);
    expect(out[1]).toContain("500/1,000 events  500 events/s  ETA 1s");
    expect(out[2]).toBe("\n");
  });

  it("prints plain lines elsewhere: every lineMs, and each phase's first and last figures", () => {
    let now = 0;
    const out: string[] = [];
    const display = new ProgressDisplay((text) => out.push(text), {
      tty: false,
      lineMs: 5000,
      now: () => now,
    });
    display.update({ phase: "archive", done: 1, total: 10, unit: "events" });
    now = 1000;
    display.update({ phase: "archive", done: 2, total: 10, unit: "events" });
    now = 1100;
    display.update({ phase: "log", done: 3, total: 10, unit: "events" });
    now = 6200;
    display.update({ phase: "log", done: 8, total: 10, unit: "events" });
    now = 6300;
    display.update({ phase: "log", done: 9, total: 10, unit: "events" }); // too soon, shown at the end
    display.end();
    expect(out.map((line) => line.split("  ")[0]!.trim())).toEqual([
      "archive",
      "archive",
      "log",
      "log",
      "log",
    ]);
    expect(out[1]).toContain("2/10 events");
    expect(out[4]).toContain("9/10 events");
    expect(out.every((line) => line.endsWith("\n") && !line.includes("\r") && !line.includes("["))).toBe(
      true,
    );
  });
});
