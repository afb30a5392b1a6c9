import { parseArgs } from "node:util";
import { parseLangs, type Lang } from "./languages.ts";

/** The suite's command line: `--lang go,python`, `--scenario "happy path"` (repeatable), `--tasks N`. */
export interface SuiteArgs {
  langs: Lang[] | null;
  scenarios: string[] | null;
  /** Tasks of the mixed-fleet run (default 3000). */
  tasks: number;
}

/** Scenario names compare without case, with spaces and hyphens alike ("happy-path" = "happy path"). */
export function scenarioKey(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, " ");
}

export function parseSuiteArgs(argv: string[]): SuiteArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      lang: { type: "string" },
      scenario: { type: "string", multiple: true },
      tasks: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      "usage: npm run test:conformance -- [--lang typescript,go,python] [--scenario NAME]... [--tasks N]\n" +
        '  --scenario  run only these scenarios (SPEC.md names, e.g. "happy path"; "mixed fleet" for the fleet run)\n' +
        "  --tasks     tasks of the mixed-fleet run (default 3000)\n" +
        "  CONFORMANCE_REQUIRE=typescript,go,python fails the run when one of them cannot run",
    );
    process.exit(0);
  }
  const tasks = Number(values.tasks ?? 3000);
  if (!Number.isInteger(tasks) || tasks < 1) throw new Error(`--tasks must be a positive integer`);
  return {
    langs: values.lang === undefined ? null : parseLangs(values.lang, "--lang"),
    scenarios: values.scenario?.flatMap((s) => s.split(",")).map(scenarioKey) ?? null,
    tasks,
  };
}
