import { CronExpressionParser, type CronExpression } from "cron-parser";
import type { FieldError } from "../task/errors.ts";

/**
 * Cron arithmetic for schedules, pure: every function takes the instant it counts from, never reads
 * a clock. Expressions have 5 fields (minute precision) or 6 (seconds first), with cron-parser's
 * syntax (ranges, steps, names, `L`, `#`, aliases such as `@daily`), evaluated in an IANA time zone.
 *
 * The sequence of fire times is always produced FORWARD from an instant (`next`): it is what every
 * leader recomputes from the log, so it must not depend on where the computation started walking
 * backwards. (cron-parser's `prev` is not its mirror across a DST fall-back: it also yields the
 * repeated wall-clock time that `next` passes over.) Daylight saving time, as cron-parser does it:
 * a wall-clock time in the skipped hour fires once, an hour later on the wall clock; a wall-clock
 * time in the repeated hour fires once, at its first occurrence; `*`/step fields in the seconds,
 * minutes or hours keep their absolute cadence through both.
 */

/** Longest expression and time zone name accepted. */
const MAX_CRON_LENGTH = 256;
const MAX_TIME_ZONE_LENGTH = 64;

/** A hashed field (`H`, Jenkins style) would be seeded at random by cron-parser: not reproducible. */
const HASHED_FIELD = /(^|[\s,])H($|[\s,(/])/;

function expression(cron: string, timeZone: string, currentDate: number): CronExpression {
  return CronExpressionParser.parse(cron, { tz: timeZone, currentDate });
}

/** Why a time zone name is unusable, or null when it is an IANA zone (or fixed offset) the runtime knows. */
export function timeZoneProblem(timeZone: string): string | null {
  if (timeZone.length === 0 || timeZone.length > MAX_TIME_ZONE_LENGTH)
    return `must be an IANA time zone name of 1 to ${MAX_TIME_ZONE_LENGTH} characters, e.g. Europe/Berlin`;
  try {
    new Intl.DateTimeFormat("en", { timeZone });
    return null;
  } catch {
    return `unknown time zone "${timeZone}" (use an IANA name such as Europe/Berlin or UTC)`;
  }
}

/** Why a cron expression is unusable in `timeZone` at `now` (syntax, or no fire time ahead), or null. */
export function cronProblem(cron: string, timeZone: string, now: number): string | null {
  if (cron.trim().length === 0 || cron.length > MAX_CRON_LENGTH)
    return `must be a cron expression of 1 to ${MAX_CRON_LENGTH} characters`;
  if (HASHED_FIELD.test(cron)) return "hashed fields (H) are not supported";
  let next: number | null;
  try {
    next = expression(cron, timeZone, now).next().getTime();
  } catch (error) {
    return `invalid cron expression: ${error instanceof Error ? error.message : String(error)}`;
  }
  return Number.isFinite(next) ? null : "never fires";
}

/** Field errors of a cron expression and its time zone, named `cron` and `timeZone`. */
export function cronFieldErrors(cron: string, timeZone: string, now: number): FieldError[] {
  const zone = timeZoneProblem(timeZone);
  // With an unknown zone the expression is still checked, in UTC, so both errors come at once.
  const problem = cronProblem(cron, zone ? "UTC" : timeZone, now);
  const errors: FieldError[] = [];
  if (problem) errors.push({ field: "cron", reason: problem });
  if (zone) errors.push({ field: "timeZone", reason: zone });
  return errors;
}

/** The first fire time strictly after `after`, or null when there is none (or the expression is unusable). */
export function nextFireTime(cron: string, timeZone: string, after: number): number | null {
  try {
    const next = expression(cron, timeZone, after).next().getTime();
    return Number.isFinite(next) ? next : null;
  } catch {
    return null;
  }
}

/** Fire times in (after, until], oldest first, at most `limit`; `more` says whether others follow up to `until`. */
export function fireTimesBetween(
  cron: string,
  timeZone: string,
  after: number,
  until: number,
  limit: number,
): { times: number[]; more: boolean } {
  const times: number[] = [];
  let cursor = after;
  for (;;) {
    const next = nextFireTime(cron, timeZone, cursor);
    if (next === null || next > until) return { times, more: false };
    if (times.length === limit) return { times, more: true };
    times.push(next);
    cursor = next;
  }
}

/**
 * The `count` latest fire times at or before `until` and after `after`, newest first, found walking
 * backwards. Only to jump over a long gap without enumerating it; the caller records the jump, so
 * the result need not match a forward walk exactly.
 */
export function latestFireTimes(
  cron: string,
  timeZone: string,
  after: number,
  until: number,
  count: number,
): number[] {
  const times: number[] = [];
  try {
    const walk = expression(cron, timeZone, until + 1); // prev() is strictly before its start
    while (times.length < count) {
      const previous = walk.prev().getTime();
      if (!Number.isFinite(previous) || previous <= after) break;
      times.push(previous);
    }
  } catch {
    // Ran out of fire times: what was found stands.
  }
  return times;
}
