/**
 * The mixed fleet: one stack, two workers per language — one with task types of its own
 * (`mix-<lang>.*`), one sharing `mix-shared.*` with the other languages and told apart only by its
 * label `lang=<lang>`. Tasks are routed by type (half) and by required label (half); every one must
 * succeed on a worker of the right language (the echo result's `lang`), and its history must name
 * that very worker (TaskAssigned.workerId = the id the worker printed when it registered).
 */
import type { SubmitSpec } from "../../sdk/typescript/src/index.ts";
import type { Lang } from "./languages.ts";
import { assignedWorker, terminal } from "./observe.ts";
import type { Fleet } from "./scenario.ts";
import { show } from "./verdict.ts";
import type { WorkerProcess } from "./worker-process.ts";

export const MIXED_FLEET = "mixed fleet";
const SLOTS = 16;
const SUBMIT_BATCH = 500;
const VERIFY_CONCURRENCY = 32;
/** Differences listed per language; the summary line counts them all. */
const MAX_REPORTED = 10;

interface Planned {
  spec: SubmitSpec;
  lang: Lang;
  worker: WorkerProcess;
  route: "type" | "label";
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function pooled<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}

/** Resolves once the workers have logged `count` completed handler ends between them. */
async function completions(workers: WorkerProcess[], count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = workers.reduce(
      (n, worker) =>
        n + worker.effects.all().filter((e) => e.event === "end" && e.outcome === "completed").length,
      0,
    );
    if (done >= count) return;
    if (Date.now() > deadline) throw new Error(`${done} of ${count} tasks completed within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The mixed-fleet run on the fleet's stack; resolves with what differed for each language's tasks
 * (empty: all well), and prints a summary line.
 */
export async function runMixedFleet(fleet: Fleet, tasks: number): Promise<Map<Lang, string[]>> {
  const langs = fleet.langs.filter((lang) => fleet.main.has(lang));
  const differences = new Map<Lang, string[]>(fleet.langs.map((lang) => [lang, []]));
  for (const lang of fleet.langs)
    if (!langs.includes(lang)) differences.get(lang)!.push("error: the main worker did not start");
  if (langs.length === 0) return differences;
  const byType = new Map<Lang, WorkerProcess>();
  const byLabel = new Map<Lang, WorkerProcess>();
  await Promise.all(
    langs.map(async (lang) => {
      byType.set(
        lang,
        await fleet.startWorker(lang, { prefix: `mix-${lang}`, labels: { lang }, slots: SLOTS }),
      );
      byLabel.set(
        lang,
        await fleet.startWorker(lang, { prefix: "mix-shared", labels: { lang }, slots: SLOTS }),
      );
    }),
  );
  const plan: Planned[] = Array.from({ length: tasks }, (_, i) => {
    const lang = langs[i % langs.length]!;
    const route = Math.floor(i / langs.length) % 2 === 0 ? "type" : "label";
    const payload = { i };
    return route === "type"
      ? { lang, route, worker: byType.get(lang)!, spec: { type: `mix-${lang}.echo`, payload } }
      : {
          lang,
          route,
          worker: byLabel.get(lang)!,
          spec: { type: "mix-shared.echo", payload, requires: { lang } },
        };
  });

  const startedAt = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < plan.length; i += SUBMIT_BATCH) {
    const results = await fleet.client.submitMany(plan.slice(i, i + SUBMIT_BATCH).map((p) => p.spec));
    ids.push(...results.map((result) => result.id));
  }
  const workers = [...byType.values(), ...byLabel.values()];
  await completions(workers, tasks, 60_000 + tasks * 20);
  const elapsedMs = Date.now() - startedAt;

  let wrong = 0;
  await pooled(
    plan.map((planned, i) => ({ planned, id: ids[i]! })),
    VERIFY_CONCURRENCY,
    async ({ planned, id }) => {
      const task = await terminal(fleet.client, id);
      const result = task.result as { lang?: unknown; attempt?: unknown } | null;
      const worker = assignedWorker(await fleet.client.history(id), 1);
      const problems = [
        task.state === "SUCCEEDED" ? "" : `state ${task.state}`,
        result?.lang === planned.lang ? "" : `result.lang ${show(result?.lang)}`,
        worker === planned.worker.id ? "" : `ran on ${worker || "no worker"}, not ${planned.worker.name}`,
      ].filter(Boolean);
      if (problems.length === 0) return;
      wrong++;
      const list = differences.get(planned.lang)!;
      if (list.length < MAX_REPORTED) list.push(`${id} (by ${planned.route}): ${problems.join(", ")}`);
    },
  );
  await Promise.all(workers.map((worker) => worker.terminate()));
  const routes = `${plan.filter((p) => p.route === "type").length} by type, ${plan.filter((p) => p.route === "label").length} by label`;
  console.log(
    `mixed fleet: ${tasks} tasks (${routes}) on ${workers.length} workers (${langs.join(", ")}): ` +
      `${tasks - wrong} succeeded on the right worker, ${wrong} did not; ` +
      `all done ${(elapsedMs / 1000).toFixed(1)} s after the first submission`,
  );
  return differences;
}
