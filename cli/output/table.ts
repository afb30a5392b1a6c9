/**
 * Human output of the CLI: aligned tables with a header and no quotes or index column, and
 * label/value blocks for one record. Everything here is text; `--json` bypasses it.
 */

/** One column: which field, its header, and how to show a value when not the default. */
export interface Column<Row> {
  header: string;
  value: (row: Row) => unknown;
  /** Right-aligned (numbers); left otherwise. */
  right?: boolean;
  /** Longer values are cut to this many characters, ending in "…" (--json prints them whole). */
  max?: number;
}

/** A value as one cell: nothing as "-", strings as they are, structures as compact JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === "") return "-";
  if (typeof value === "string") return value.replace(/\s+/g, " ");
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return String(value);
  return JSON.stringify(value);
}

/** Rows as an aligned table; `empty` when there are none. */
export function table<Row>(rows: readonly Row[], columns: readonly Column<Row>[], empty = "(none)"): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((row) =>
    columns.map((column) => {
      const text = cell(column.value(row));
      return column.max !== undefined && text.length > column.max
        ? `${text.slice(0, column.max - 1)}…`
        : text;
    }),
  );
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...cells.map((line) => line[i]!.length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, i) => (columns[i]!.right ? value.padStart(widths[i]!) : value.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n");
}

/** One record as aligned `label  value` lines. */
export function details(pairs: readonly [string, unknown][]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${cell(value)}`).join("\n");
}
