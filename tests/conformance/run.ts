/**
 * The conformance suite (`npm run test:conformance`): starts a real Taskstream, runs every scenario
 * of SPEC.md against the conformance worker of each SDK present, then the mixed-fleet run, prints
 * the scenario × language table and exits non-zero when any cell differs from the expected outcome
 * (or a language CONFORMANCE_REQUIRE names could not run).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskstreamClient } from "../../sdk/typescript/src/index.ts";
import { uniquePrefix } from "../support/services.ts";
import { parseSuiteArgs, scenarioKey } from "./args.ts";
import { detectLanguages, requiredLanguages, type Lang, type WorkerCommand } from "./languages.ts";
import { MIXED_FLEET, runMixedFleet } from "./mixed-fleet.ts";
import { Fleet, type Scenario } from "./scenario.ts";
import { SCENARIOS } from "./scenarios/index.ts";
import { Stack } from "./stack.ts";
import { renderDifferences, renderTable, type Cell } from "./table.ts";
import { Verdict } from "./verdict.ts";
import { WorkerProcess } from "./worker-process.ts";

const SCENARIO_TIMEOUT_MS = 120_000;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Rejects when `work` has not settled within `ms`, so one stuck scenario cannot hang the suite. */
function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Runs one per-language scenario; an exception is a difference like any other. */
async function runEach(scenario: Scenario & { kind: "each" }, fleet: Fleet, lang: Lang): Promise<string[]> {
  const worker = fleet.main.get(lang);
  if (!worker) return ["error: the main worker did not start"];
  const verdict = new Verdict();
  const prefix = `cf-${lang}-${scenarioKey(scenario.name).replace(/ /g, "-")}`;
  const ctx = {
    lang,
    fleet,
    worker,
    prefix,
    submit: (behaviour: string, payload: unknown, options = {}) =>
      fleet.submit(worker.prefix, behaviour, payload, options),
  };
  try {
    await within(SCENARIO_TIMEOUT_MS, scenario.name, scenario.run(ctx, verdict));
  } catch (error) {
    verdict.that(false, `error: ${message(error)}`);
  }
  return verdict.differences;
}

async function runFleet(scenario: Scenario & { kind: "fleet" }, fleet: Fleet): Promise<Map<Lang, string[]>> {
  const verdicts = new Map(fleet.langs.map((lang) => [lang, new Verdict()]));
  try {
    await within(SCENARIO_TIMEOUT_MS, scenario.name, scenario.run(fleet, verdicts));
  } catch (error) {
    for (const verdict of verdicts.values()) verdict.that(false, `error: ${message(error)}`);
  }
  return new Map([...verdicts].map(([lang, verdict]) => [lang, verdict.differences]));
}

/** The mixed fleet as a row of the table: each language judged on its own tasks. */
async function runMixed(fleet: Fleet, tasks: number): Promise<Map<Lang, Cell>> {
  try {
    return await within(SCENARIO_TIMEOUT_MS + tasks * 20, MIXED_FLEET, runMixedFleet(fleet, tasks));
  } catch (error) {
    return new Map(fleet.langs.map((lang) => [lang, [`error: ${message(error)}`]]));
  }
}

/**
 * Ends every child process if the suite itself is interrupted or exits early, so no worker or
 * server outlives it (their Redis keys stay; the prefix is unique to the run).
 */
function killChildrenOnExit(stack: Stack): void {
  const killAll = () => {
    WorkerProcess.killAll();
    for (const server of [stack.api, stack.dispatcher]) server?.child.kill("SIGKILL");
  };
  process.once("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      console.log(`conformance: ${signal}, stopping`);
      process.exit(130);
    });
}

async function main(): Promise<number> {
  const args = parseSuiteArgs(process.argv.slice(2));
  const required = requiredLanguages();
  const wanted = (lang: Lang) => args.langs === null || args.langs.includes(lang) || required.includes(lang);
  const available = detectLanguages().filter(({ lang }) => wanted(lang));
  const commands = new Map<Lang, WorkerCommand>();
  const skipped: string[] = [];
  for (const entry of available) {
    if ("command" in entry) commands.set(entry.lang, entry.command);
    else skipped.push(`${entry.lang}: ${entry.skipped}`);
  }
  const missingRequired = required.filter((lang) => !commands.has(lang));
  const selected = SCENARIOS.filter(
    (s) => args.scenarios === null || args.scenarios.includes(scenarioKey(s.name)),
  );
  const withFleet = args.scenarios === null || args.scenarios.includes(scenarioKey(MIXED_FLEET));
  if (args.scenarios && selected.length === 0 && !withFleet)
    throw new Error(`no scenario is named ${args.scenarios.join(", ")}`);

  for (const line of skipped) console.log(`conformance: skipped ${line}`);
  if (commands.size === 0) {
    console.log("conformance: no conformance worker can run here; nothing to do");
    return missingRequired.length > 0 ? 1 : 0;
  }
  const langs = [...commands.keys()];
  console.log(`conformance: ${selected.length} scenario(s) for ${langs.join(", ")}`);

  const stack = new Stack(uniquePrefix("conformance"));
  const dir = mkdtempSync(join(tmpdir(), "taskstream-conformance-"));
  const startedAt = Date.now();
  let fleet: Fleet | null = null;
  const cells = new Map<string, Map<Lang, Cell>>();
  killChildrenOnExit(stack);
  try {
    await stack.start();
    // Every worker process inherits the key (SPEC.md: TASKSTREAM_API_KEY).
    process.env.TASKSTREAM_API_KEY = stack.apiKey;
    fleet = new Fleet(
      stack,
      new TaskstreamClient({ address: stack.apiAddress, apiKey: stack.apiKey }),
      commands,
      dir,
    );
    const running = fleet;
    const mains = await Promise.allSettled(
      langs.map(async (lang) =>
        running.main.set(lang, await running.startWorker(lang, { prefix: `cf-${lang}`, slots: 8 })),
      ),
    );
    mains.forEach((result, i) => {
      if (result.status === "rejected")
        console.log(`conformance: ${langs[i]} worker did not start: ${message(result.reason)}`);
    });

    // Per-language scenarios all at once (each has its own tasks), then those that need the fleet.
    await Promise.all(
      selected.flatMap((scenario) =>
        scenario.kind !== "each"
          ? []
          : langs.map(async (lang) => {
              const differences = await runEach(scenario, running, lang);
              cells.set(
                scenario.name,
                (cells.get(scenario.name) ?? new Map<Lang, Cell>()).set(lang, differences),
              );
            }),
      ),
    );
    for (const scenario of selected) {
      if (scenario.kind !== "fleet") continue;
      cells.set(scenario.name, await runFleet(scenario, running));
    }
    if (withFleet) cells.set(MIXED_FLEET, await runMixed(running, args.tasks));
  } catch (error) {
    console.log(`conformance: the suite could not run: ${message(error)}\n${stack.output()}`);
    return 1;
  } finally {
    await Promise.all(fleet?.processes.map((worker) => worker.kill()) ?? []);
    fleet?.client.close();
    await stack.stop().catch((error: unknown) => console.log(`conformance: cleanup: ${message(error)}`));
  }

  const names = [...selected.map((s) => s.name), ...(withFleet ? [MIXED_FLEET] : [])];
  const columns = available.map((entry) => entry.lang);
  console.log(`\n${renderTable(names, columns, cells)}\n`);
  const differences = renderDifferences(names, columns, cells);
  if (differences) console.log(`differences:\n${differences}\n`);
  for (const line of skipped) console.log(`skipped ${line}`);
  for (const lang of missingRequired)
    console.log(`FAILED: CONFORMANCE_REQUIRE names ${lang}, which could not run`);
  const failed = differences !== "" || missingRequired.length > 0;
  console.log(
    `conformance: ${failed ? "FAILED" : "passed"} in ${Math.round((Date.now() - startedAt) / 1000)} s`,
  );
  if (failed) console.log(`conformance: effects kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`conformance: ${message(error)}`);
    process.exit(2);
  },
);
