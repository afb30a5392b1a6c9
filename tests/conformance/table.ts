import type { Lang } from "./languages.ts";

/** One cell of the table: a scenario's differences in one language, or null when it did not run. */
export type Cell = string[] | null;

const CELL_WIDTH = 44;
const SKIPPED = "—";

function cellText(cell: Cell): string {
  if (cell === null) return SKIPPED;
  if (cell.length === 0) return "ok";
  const first = cell[0]!;
  const more = cell.length > 1 ? ` (+${cell.length - 1})` : "";
  const room = CELL_WIDTH - more.length;
  return (first.length > room ? `${first.slice(0, room - 3)}...` : first) + more;
}

/**
 * The scenario × language table as text: `ok`, the first difference (shortened; every difference
 * is listed after the table), or `—` for a language that did not run.
 */
export function renderTable(scenarios: string[], langs: Lang[], cells: Map<string, Map<Lang, Cell>>): string {
  const rows = scenarios.map((name) => [
    name,
    ...langs.map((lang) => cellText(cells.get(name)?.get(lang) ?? null)),
  ]);
  const header = ["scenario", ...langs];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((text, i) => text.padEnd(widths[i]!)).join(" | ")} |`;
  const rule = `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** Every difference, one per line, prefixed with its scenario and language. */
export function renderDifferences(scenarios: string[], langs: Lang[], cells: Map<string, Map<Lang, Cell>>) {
  const lines: string[] = [];
  for (const name of scenarios) {
    for (const lang of langs) {
      for (const difference of cells.get(name)?.get(lang) ?? [])
        lines.push(`  ${name} [${lang}]: ${difference}`);
    }
  }
  return lines.join("\n");
}
