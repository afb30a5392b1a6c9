import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { DASHBOARDS } from "./dashboards.ts";
import { dashboardText } from "./generate.ts";

describe("Grafana dashboards", () => {
  it.each(Object.entries(DASHBOARDS))("%s is what dashboards.ts generates", async (file, build) => {
    const committed = await readFile(new URL(file, import.meta.url), "utf8");
    expect(committed, "run `node deploy/grafana/generate.ts`").toBe(await dashboardText(file, build));
  });

  it.each(Object.entries(DASHBOARDS))(
    "%s has unique panel ids, non-overlapping panels and queries",
    (_, build) => {
      const { panels } = build();
      expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
      const cells = new Set<string>();
      for (const panel of panels) {
        const { x, y, w, h } = panel.gridPos;
        expect(x + w).toBeLessThanOrEqual(24);
        for (let i = x; i < x + w; i++)
          for (let j = y; j < y + h; j++) {
            expect(cells.has(`${i},${j}`), `${panel.title} overlaps at ${i},${j}`).toBe(false);
            cells.add(`${i},${j}`);
          }
        if (panel.type !== "row") expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      }
    },
  );
});
