import { describe, expect, it } from "vitest";
import { cronFieldErrors, fireTimesBetween, nextFireTime } from "./cron.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const BERLIN = "Europe/Berlin";

describe("next fire time", () => {
  it("is strictly after the given instant, in seconds with six fields and minutes with five", () => {
    expect(iso(nextFireTime("* * * * * *", "UTC", at("2030-01-01T00:00:01.000Z")))).toBe(
      "2030-01-01T00:00:02.000Z",
    );
    expect(iso(nextFireTime("* * * * * *", "UTC", at("2030-01-01T00:00:01.400Z")))).toBe(
      "2030-01-01T00:00:02.000Z",
    );
    expect(iso(nextFireTime("*/15 * * * *", "UTC", at("2030-01-01T00:00:00.000Z")))).toBe(
      "2030-01-01T00:15:00.000Z",
    );
  });

  it("counts wall-clock fields in the schedule's time zone", () => {
    // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
    expect(iso(nextFireTime("0 9 * * *", BERLIN, at("2030-01-10T12:00:00Z")))).toBe(
      "2030-01-11T08:00:00.000Z",
    );
    expect(iso(nextFireTime("0 9 * * *", BERLIN, at("2030-07-10T12:00:00Z")))).toBe(
      "2030-07-11T07:00:00.000Z",
    );
    expect(iso(nextFireTime("0 9 * * *", "America/New_York", at("2030-01-10T12:00:00Z")))).toBe(
      "2030-01-10T14:00:00.000Z",
    );
  });

  it("spring forward in Berlin: a daily 02:30 (which does not exist that night) fires once, at 03:30", () => {
    // 2030-03-31: clocks jump from 02:00 CET to 03:00 CEST.
    const { times } = fireTimesBetween(
      "30 2 * * *",
      BERLIN,
      at("2030-03-29T12:00:00Z"),
      at("2030-04-02T00:00:00Z"),
      10,
    );
    expect(times.map(iso)).toEqual([
      "2030-03-30T01:30:00.000Z", // 02:30 CET
      "2030-03-31T01:30:00.000Z", // 03:30 CEST: the skipped 02:30, an hour later on the wall clock
      "2030-04-01T00:30:00.000Z", // 02:30 CEST
    ]);
  });

  it("fall back in Berlin: a daily 02:30 (which happens twice that night) fires once", () => {
    // 2030-10-27: clocks go back from 03:00 CEST to 02:00 CET.
    const { times } = fireTimesBetween(
      "30 2 * * *",
      BERLIN,
      at("2030-10-26T12:00:00Z"),
      at("2030-10-29T00:00:00Z"),
      10,
    );
    expect(times.map(iso)).toEqual([
      "2030-10-27T00:30:00.000Z", // 02:30 CEST, the first of the two
      "2030-10-28T01:30:00.000Z", // 02:30 CET
    ]);
  });

  it("fall back in Berlin: every 30 minutes keeps its absolute cadence through the repeated hour", () => {
    const { times } = fireTimesBetween(
      "*/30 * * * *",
      BERLIN,
      at("2030-10-26T23:45:00Z"),
      at("2030-10-27T02:00:00Z"),
      10,
    );
    expect(times.map(iso)).toEqual([
      "2030-10-27T00:00:00.000Z", // 02:00 CEST
      "2030-10-27T00:30:00.000Z", // 02:30 CEST
      "2030-10-27T01:00:00.000Z", // 02:00 CET
      "2030-10-27T01:30:00.000Z", // 02:30 CET
      "2030-10-27T02:00:00.000Z", // 03:00 CET
    ]);
  });

  it("enumerates at most the limit and says when more follow", () => {
    const scan = fireTimesBetween(
      "* * * * * *",
      "UTC",
      at("2030-01-01T00:00:00Z"),
      at("2030-01-01T00:01:00Z"),
      10,
    );
    expect(scan.times).toHaveLength(10);
    expect(scan.more).toBe(true);
  });
});

describe("cron field errors", () => {
  it("accepts good expressions, aliases and time zones", () => {
    for (const cron of ["* * * * *", "0 */5 * * * *", "0 9 * * MON-FRI", "@daily", "0 0 L * *"]) {
      expect(cronFieldErrors(cron, BERLIN, 0)).toEqual([]);
    }
    expect(cronFieldErrors("* * * * *", "UTC", 0)).toEqual([]);
  });

  it("names the field: unknown syntax is `cron`, an unknown zone is `timeZone`", () => {
    expect(cronFieldErrors("every day", BERLIN, 0).map((e) => e.field)).toEqual(["cron"]);
    expect(cronFieldErrors("* * * * * * *", BERLIN, 0).map((e) => e.field)).toEqual(["cron"]);
    expect(cronFieldErrors("", BERLIN, 0).map((e) => e.field)).toEqual(["cron"]);
    expect(cronFieldErrors("* * * * *", "Europe/Atlantis", 0).map((e) => e.field)).toEqual(["timeZone"]);
    expect(cronFieldErrors("* * * * *", "", 0).map((e) => e.field)).toEqual(["timeZone"]);
  });
});
