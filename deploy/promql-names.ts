import { readFile } from "node:fs/promises";
import { parse } from "yaml";

/**
 * The metric names a PromQL expression reads. Strings, label matchers, ranges, label lists of
 * by/without/on/ignoring/group_left/group_right, Grafana variables and numbers are dropped first;
 * of the identifiers left, those called like a function and the language's keywords are not
 * metrics. Recording rule names (with a colon) are returned like any other.
 */
export function metricNames(expr: string): string[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\boffset\s+-?\w+/g, " ")
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w:])/g, " ");
  const names = new Set<string>();
  for (const match of text.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const name = match[0];
    const after = text.slice(match.index + name.length).trimStart();
    if (after.startsWith("(") || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "inf",
  "nan",
]);

/** The metric names of a Grafana variable query: `label_values(<selector>, label)`, or PromQL. */
export function variableMetricNames(query: string): string[] {
  const labelValues = /^\s*label_values\s*\((.*)\)\s*$/s.exec(query);
  if (!labelValues) return metricNames(query);
  const args = labelValues[1]!;
  const comma = args.lastIndexOf(",");
  return comma < 0 ? [] : metricNames(args.slice(0, comma));
}

/** Every PromQL expression of a Grafana dashboard: panel targets (rows included) and variables. */
export function dashboardExpressions(dashboard: unknown): { where: string; names: string[] }[] {
  const found: { where: string; names: string[] }[] = [];
  const board = dashboard as {
    title: string;
    panels?: Panel[];
    templating?: { list?: { name: string; type: string; query?: string | { query?: string } }[] };
  };
  const visit = (panels: Panel[] = []) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr)
          found.push({ where: `${board.title} / ${panel.title}`, names: metricNames(target.expr) });
      visit(panel.panels);
    }
  };
  visit(board.panels);
  for (const variable of board.templating?.list ?? []) {
    if (variable.type !== "query") continue;
    const query = typeof variable.query === "string" ? variable.query : (variable.query?.query ?? "");
    found.push({ where: `${board.title} / $${variable.name}`, names: variableMetricNames(query) });
  }
  return found;
}

interface Panel {
  title: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every rule expression of a Prometheus rule file, and the names its recording rules define. */
export async function ruleExpressions(
  path: string,
): Promise<{ expressions: { where: string; names: string[] }[]; recorded: Set<string> }> {
  const file = parse(await readFile(path, "utf8")) as {
    groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
  };
  const expressions: { where: string; names: string[] }[] = [];
  const recorded = new Set<string>();
  for (const group of file.groups) {
    for (const rule of group.rules) {
      if (rule.record) recorded.add(rule.record);
      expressions.push({
        where: `${group.name} / ${rule.alert ?? rule.record}`,
        names: metricNames(rule.expr),
      });
    }
  }
  return { expressions, recorded };
}

/**
 * The metric names a /metrics page declares (# TYPE lines), with the series a histogram or summary
 * family exposes (_bucket, _sum, _count).
 */
export function exportedNames(page: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of page.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === "histogram" || type === "summary")
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name! + suffix);
  }
  return names;
}
