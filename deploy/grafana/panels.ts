/**
 * Small builders for Grafana dashboard JSON (schema version 39): panels are laid out left to right,
 * three to a row of 24 columns, and every query goes to the dashboard's Prometheus data source.
 */

export interface Target {
  expr: string;
  legendFormat: string;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: (Target & { refId: string; datasource: { type: string; uid: string } })[];
  fieldConfig?: { defaults: Record<string, unknown>; overrides: unknown[] };
  options?: Record<string, unknown>;
  collapsed?: boolean;
  panels?: Panel[];
}

const DATASOURCE = { type: "prometheus", uid: "${datasource}" };

export interface PanelSpec {
  title: string;
  description?: string;
  unit?: string;
  targets: Target[];
  /** "stat" for a single figure; a time series otherwise. */
  kind?: "timeseries" | "stat";
  /** Columns of 24 (default 8). */
  width?: number;
  min?: number;
  max?: number;
  /** Series whose legend matches this regular expression are drawn against a right-hand axis. */
  rightAxis?: string;
}

/** Lays out rows of panels and numbers them. */
export class Layout {
  readonly panels: Panel[] = [];
  private nextId = 1;
  private x = 0;
  private y = 0;
  private rowHeight = 0;

  row(title: string): this {
    this.newLine();
    this.panels.push({
      id: this.nextId++,
      type: "row",
      title,
      collapsed: false,
      panels: [],
      gridPos: { x: 0, y: this.y, w: 24, h: 1 },
    });
    this.y += 1;
    return this;
  }

  add(spec: PanelSpec): this {
    const kind = spec.kind ?? "timeseries";
    const w = spec.width ?? 8;
    const h = kind === "stat" ? 4 : 8;
    if (this.x + w > 24) this.newLine();
    const defaults: Record<string, unknown> = { unit: spec.unit ?? "short" };
    if (spec.min !== undefined) defaults.min = spec.min;
    if (spec.max !== undefined) defaults.max = spec.max;
    if (kind === "timeseries") defaults.custom = { fillOpacity: 10, lineWidth: 1, showPoints: "never" };
    this.panels.push({
      id: this.nextId++,
      type: kind,
      title: spec.title,
      ...(spec.description ? { description: spec.description } : {}),
      datasource: DATASOURCE,
      gridPos: { x: this.x, y: this.y, w, h },
      targets: spec.targets.map((target, i) => ({
        ...target,
        refId: String.fromCharCode(65 + i),
        datasource: DATASOURCE,
      })),
      fieldConfig: {
        defaults,
        overrides: spec.rightAxis
          ? [
              {
                matcher: { id: "byRegexp", options: spec.rightAxis },
                properties: [{ id: "custom.axisPlacement", value: "right" }],
              },
            ]
          : [],
      },
      options:
        kind === "stat"
          ? { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "value" }
          : { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi" } },
    });
    this.x += w;
    this.rowHeight = Math.max(this.rowHeight, h);
    return this;
  }

  private newLine(): void {
    this.y += this.rowHeight;
    this.x = 0;
    this.rowHeight = 0;
  }
}

/** A query variable whose values come from `label_values(...)`. */
export function queryVariable(name: string, label: string, query: string, includeAll: boolean) {
  return {
    name,
    label,
    type: "query",
    datasource: DATASOURCE,
    query: { query, refId: `${name}-values` },
    definition: query,
    refresh: 2,
    sort: 1,
    multi: includeAll,
    includeAll,
    ...(includeAll ? { allValue: ".*" } : {}),
    current: {},
    options: [],
    hide: 0,
  };
}

export function datasourceVariable() {
  return {
    name: "datasource",
    label: "Data source",
    type: "datasource",
    query: "prometheus",
    current: {},
    options: [],
    hide: 0,
    refresh: 1,
  };
}

/** The dashboard around the panels. */
export function dashboard(
  uid: string,
  title: string,
  description: string,
  panels: Panel[],
  variables: object[],
) {
  return {
    uid,
    title,
    description,
    tags: ["taskstream"],
    timezone: "browser",
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    templating: { list: variables },
    annotations: { list: [] },
    links: [],
    panels,
  };
}
