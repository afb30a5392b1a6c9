import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { migrationFiles } from "../../migrations/migrate.ts";
import { LEFT_IN_PLACE, TASKS_READ_MODEL } from "./read-models.ts";

/** Every `create table|view NAME` of the migrations, with the file that creates it. */
async function createdRelations(): Promise<Map<string, string>> {
  const created = new Map<string, string>();
  for (const file of await migrationFiles()) {
    const sql = await readFile(new URL(`../../migrations/${file}`, import.meta.url), "utf8");
    const code = sql.replace(/--.*$/gm, "");
    for (const match of code.matchAll(
      /\bcreate\s+(?:or\s+replace\s+)?(?:unlogged\s+)?(?:table|view|materialized\s+view)\s+(?:if\s+not\s+exists\s+)?([a-z_][a-z0-9_]*)/gi,
    ))
      created.set(match[1]!.toLowerCase(), file);
  }
  return created;
}

describe("the tasks read model's declaration", () => {
  it("classifies every table and view the migrations create: rebuilt, or left in place", async () => {
    const created = await createdRelations();
    expect(created.has("tasks")).toBe(true);
    const declared = new Set([
      ...TASKS_READ_MODEL.tables,
      ...TASKS_READ_MODEL.views,
      ...Object.keys(LEFT_IN_PLACE),
    ]);
    const unclassified = [...created]
      .filter(([name]) => !declared.has(name))
      .map(
        ([name, file]) =>
          `${name} (created by ${file}) is neither rebuilt nor left in place: ` +
          `add it to TASKS_READ_MODEL or LEFT_IN_PLACE in projections/rebuild/read-models.ts`,
      );
    expect(unclassified).toEqual([]);
  });

  it("names each relation once, and only relations the migrations create", async () => {
    const created = await createdRelations();
    const all = [...TASKS_READ_MODEL.tables, ...TASKS_READ_MODEL.views, ...Object.keys(LEFT_IN_PLACE)];
    expect(new Set(all).size).toBe(all.length);
    // schema_migrations is created by migrations/migrate.ts itself.
    expect(all.filter((name) => !created.has(name) && name !== "schema_migrations")).toEqual([]);
  });
});
