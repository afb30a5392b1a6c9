/**
 * Scenarios that need every language at once: labels routing (workers of all languages share a
 * task type and differ only by label) and reconnection (the one dispatcher is restarted under the
 * workers of every language). Each language is still judged on its own tasks.
 */
import type { Lang } from "../languages.ts";
import { assignedWorker, eventsOf, terminal } from "../observe.ts";
import type { Fleet, Scenario } from "../scenario.ts";
import type { Verdict } from "../verdict.ts";
import type { WorkerProcess } from "../worker-process.ts";

const TASKS_PER_LABEL = 4;

/** Runs `part` for every language at once; a part that throws is a difference of that language. */
async function perLanguage(
  fleet: Fleet,
  verdicts: Map<Lang, Verdict>,
  part: (lang: Lang, verdict: Verdict) => Promise<void>,
): Promise<void> {
  await Promise.all(
    fleet.langs.map((lang) =>
      part(lang, verdicts.get(lang)!).catch((error: unknown) =>
        verdicts.get(lang)!.that(false, `error: ${error instanceof Error ? error.message : String(error)}`),
      ),
    ),
  );
}

export const fleetScenarios: Scenario[] = [
  {
    name: "labels routing",
    kind: "fleet",
    async run(fleet, verdicts) {
      const prefix = "cf-labels";
      const workers = new Map<Lang, WorkerProcess>();
      await perLanguage(fleet, verdicts, async (lang) => {
        workers.set(lang, await fleet.startWorker(lang, { prefix, labels: { lang } }));
      });
      await perLanguage(fleet, verdicts, async (lang, v) => {
        const worker = workers.get(lang);
        if (!worker) return; // it did not start: already recorded
        const ids = await Promise.all(
          Array.from({ length: TASKS_PER_LABEL }, (_, i) =>
            fleet.submit(prefix, "echo", { i }, { requires: { lang } }),
          ),
        );
        for (const id of ids) {
          const task = await terminal(fleet.client, id);
          v.equal(`${id}: state`, task.state, "SUCCEEDED");
          v.equal(`${id}: result.lang`, (task.result as { lang?: unknown } | null)?.lang, lang);
          v.equal(`${id}: worker`, assignedWorker(await fleet.client.history(id), 1), worker.id);
        }
      });
      await Promise.all([...workers.values()].map((worker) => worker.terminate()));
    },
  },
  {
    name: "reconnection",
    kind: "fleet",
    async run(fleet, verdicts) {
      // One slow task per language, each on that language's main worker, all running at once.
      const tasks = new Map<Lang, string>();
      await perLanguage(fleet, verdicts, async (lang) => {
        const worker = fleet.main.get(lang)!;
        const id = await fleet.submit(worker.prefix, "slow", { ms: 3000 });
        await worker.effects.start(id, 1);
        tasks.set(lang, id);
      });
      await fleet.stack.restartDispatcher();
      await perLanguage(fleet, verdicts, async (lang, v) => {
        const id = tasks.get(lang);
        if (!id) return;
        const worker = fleet.main.get(lang)!;
        const task = await terminal(fleet.client, id, 45_000);
        v.equal("state", task.state, "SUCCEEDED");
        v.equal("attempt", task.attempt, 1);
        v.equal("result", task.result, { slept: 3000 });
        const history = await fleet.client.history(id);
        v.equal("failed attempts", eventsOf(history, "TaskAttemptFailed").length, 0);
        // The result came from the worker that re-registered under its own identity.
        v.equal("worker", assignedWorker(history, 1), worker.id);
        v.that(worker.alive, "the worker process exited");
      });
    },
  },
];
