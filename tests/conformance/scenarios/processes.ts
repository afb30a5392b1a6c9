/**
 * Scenarios about the worker process itself: a graceful stop lets a running handler finish and
 * report, and a killed worker's attempt is failed as lost and retried on another worker. Each
 * starts workers of its own (under a prefix of its own), so stopping them disturbs no other scenario.
 */
import { assignedWorker, eventsOf, failureTypes, terminal } from "../observe.ts";
import type { Scenario } from "../scenario.ts";

export const processScenarios: Scenario[] = [
  {
    name: "graceful shutdown",
    kind: "each",
    async run({ lang, fleet, prefix }, v) {
      const worker = await fleet.startWorker(lang, { prefix });
      const id = await fleet.submit(prefix, "slow", { ms: 1500 });
      await worker.effects.start(id, 1);
      const code = await worker.terminate();
      v.equal("exit code", code, 0);
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "SUCCEEDED");
      v.equal("attempt", task.attempt, 1);
      v.equal("result", task.result, { slept: 1500 });
      v.equal("end.outcome", (await worker.effects.end(id, 1, 0)).outcome, "completed");
    },
  },
  {
    name: "redelivery after kill",
    kind: "each",
    async run({ lang, fleet, prefix }, v) {
      const first = await fleet.startWorker(lang, { prefix });
      // `hang` runs until its attempt ends, so only attempt 1 is in the first worker's hands.
      const id = await fleet.submit(prefix, "hang", { hangAttempts: 1 }, { retry: { initialBackoffMs: 10 } });
      await first.effects.start(id, 1);
      await first.kill();
      const second = await fleet.startWorker(lang, { prefix });
      const task = await terminal(fleet.client, id, 45_000);
      v.equal("state", task.state, "SUCCEEDED");
      v.equal("attempt", task.attempt, 2);
      v.equal("result", task.result, { attempt: 2 });
      const history = await fleet.client.history(id);
      v.equal("failures", failureTypes(history), ["WORKER_LOST"]);
      v.equal("attempt 1 worker", assignedWorker(history, 1), first.id);
      v.equal("attempt 2 worker", assignedWorker(history, 2), second.id);
      v.equal("rejected reports", eventsOf(history, "TaskResultRejected").length, 0);
      await second.terminate();
    },
  },
];
