import { isDeepStrictEqual } from "node:util";

/**
 * What differed from a scenario's expected outcome. A scenario records every check it makes; the
 * cell of the table is `ok` when none differed, else the first difference (all are listed below
 * the table).
 */
export class Verdict {
  readonly differences: string[] = [];

  /** Records a difference unless `actual` deeply equals `expected`. */
  equal(what: string, actual: unknown, expected: unknown): void {
    if (!isDeepStrictEqual(actual, expected))
      this.differences.push(`${what}: ${show(actual)}, expected ${show(expected)}`);
  }

  /** Records `difference` unless `condition` holds. */
  that(condition: boolean, difference: string): void {
    if (!condition) this.differences.push(difference);
  }

  get ok(): boolean {
    return this.differences.length === 0;
  }
}

/** A value in a difference: JSON, shortened. */
export function show(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
