import { describe, expect, it } from "vitest";
import { parseSuiteArgs, scenarioKey } from "./args.ts";
import { renderDifferences, renderTable, type Cell } from "./table.ts";
import type { Lang } from "./languages.ts";
import { Verdict } from "./verdict.ts";

describe("the conformance table", () => {
  const cells = new Map<string, Map<Lang, Cell>>([
    [
      "happy path",
      new Map<Lang, Cell>([
        ["typescript", []],
        ["go", ['state: "DEAD_LETTERED", expected "SUCCEEDED"', "x"]],
      ]),
    ],
    ["deadline", new Map<Lang, Cell>([["typescript", []]])],
  ]);

  it("shows ok, the first difference with a count of the others, and — for a language that did not run", () => {
    const table = renderTable(["happy path", "deadline"], ["typescript", "go", "python"], cells).split("\n");
    expect(table[0]).toMatch(/^\| scenario +\| typescript \| go +\| python \|$/);
    expect(table[2]).toContain('| ok         | state: "DEAD_LETTERED", expected "SU... (+1) | —      |');
    expect(table[3]).toMatch(/\| deadline +\| ok +\| — +\| — +\|/);
  });

  it("lists every difference with its scenario and language", () => {
    expect(renderDifferences(["happy path", "deadline"], ["typescript", "go"], cells).split("\n")).toEqual([
      '  happy path [go]: state: "DEAD_LETTERED", expected "SUCCEEDED"',
      "  happy path [go]: x",
    ]);
  });

  it("reads --lang and --scenario, refusing unknown languages", () => {
    expect(
      parseSuiteArgs(["--lang", "go,python", "--scenario", "happy-path", "--scenario", "Deadline"]),
    ).toEqual({
      langs: ["go", "python"],
      scenarios: ["happy path", "deadline"],
      tasks: 3000,
    });
    expect(() => parseSuiteArgs(["--lang", "rust"])).toThrow(/unknown language "rust"/);
    expect(scenarioKey("Redelivery_after-kill")).toBe("redelivery after kill");
  });
});

describe("a verdict", () => {
  it("names the first field that differs inside a value", () => {
    const verdict = new Verdict();
    verdict.equal("result", { echo: { a: [1, 2] }, attempt: 2 }, { echo: { a: [1, 2] }, attempt: 1 });
    verdict.equal("failures", [{ type: "E" }], [{ type: "ConformanceError" }]);
    verdict.equal("state", "SUCCEEDED", "SUCCEEDED");
    verdict.equal("list", [1], [1, 2]);
    expect(verdict.differences).toEqual([
      "result.attempt: 2, expected 1",
      'failures[0].type: "E", expected "ConformanceError"',
      "list: [1], expected [1,2]",
    ]);
  });
});
