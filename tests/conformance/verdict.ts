import { isDeepStrictEqual } from "node:util";

/**
 * What differed from a scenario's expected outcome. A scenario records every check it makes; the
 * cell of the table is `ok` when none differed, else the first difference (all are listed below
 * the table).
 */
export class Verdict {
  readonly differences: string[] = [];

  /** Records a difference unless `actual` deeply equals `expected`, naming the first part that differs. */
  equal(what: string, actual: unknown, expected: unknown): void {
    const found = firstDifference(actual, expected, "");
    if (found)
      this.differences.push(`${what}${found.path}: ${show(found.actual)}, expected ${show(found.expected)}`);
  }

  /** Records `difference` unless `condition` holds. */
  that(condition: boolean, difference: string): void {
    if (!condition) this.differences.push(difference);
  }

  get ok(): boolean {
    return this.differences.length === 0;
  }
}

type Found = { path: string; actual: unknown; expected: unknown };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The first place where two JSON-like values differ (`.result.attempt`, `[1].type`), so a long
 * value's difference reads as the one field that is off; null when they are equal.
 */
function firstDifference(actual: unknown, expected: unknown, path: string): Found | null {
  if (isDeepStrictEqual(actual, expected)) return null;
  if (Array.isArray(actual) && Array.isArray(expected) && actual.length === expected.length) {
    for (let i = 0; i < expected.length; i++) {
      const found = firstDifference(actual[i], expected[i], `${path}[${i}]`);
      if (found) return found;
    }
  }
  if (isRecord(actual) && isRecord(expected)) {
    for (const key of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      const found = firstDifference(actual[key], expected[key], `${path}.${key}`);
      if (found) return found;
    }
  }
  return { path, actual, expected };
}

/** A value in a difference: JSON, shortened. */
export function show(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
