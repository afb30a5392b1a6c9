/**
 * Scenarios about ending a running attempt from outside the handler: a heartbeat timeout, a
 * cancellation and a start-to-close deadline. Each waits for the handler's start effect before
 * doing anything, and checks both the log and what the handler itself saw (its end effect).
 */
import { eventsOf, failureTypes, terminal } from "../observe.ts";
import type { Scenario } from "../scenario.ts";

export const timingScenarios: Scenario[] = [
  {
    name: "heartbeat timeout",
    kind: "each",
    async run({ fleet, worker, submit }, v) {
      const id = await submit(
        "hang",
        {},
        {
          timeouts: { heartbeatMs: 1000 },
          retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 10 },
        },
      );
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "SUCCEEDED");
      v.equal("attempt", task.attempt, 2);
      v.equal("result", task.result, { attempt: 2 });
      v.equal("failures", failureTypes(await fleet.client.history(id)), ["HEARTBEAT_TIMEOUT"]);
      v.equal("attempt 1 end.outcome", (await worker.effects.end(id, 1)).outcome, "cancelled");
    },
  },
  {
    name: "cancellation",
    kind: "each",
    async run({ fleet, worker, submit }, v) {
      const id = await submit("wait-cancel", {});
      await worker.effects.start(id, 1);
      await fleet.client.cancel(id, "conformance");
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "CANCELLED");
      v.equal("end.outcome", (await worker.effects.end(id, 1)).outcome, "cancelled");
      v.equal("attempts", task.attempt, 1);
      // "cancelled by request" only when the worker reported the attempt as cancelled.
      const [cancelled] = eventsOf(await fleet.client.history(id), "TaskCancelled");
      v.equal("TaskCancelled.reason", cancelled?.reason, "cancelled by request");
    },
  },
  {
    name: "deadline",
    kind: "each",
    async run({ fleet, worker, submit }, v) {
      const id = await submit(
        "deadline",
        {},
        { timeouts: { startToCloseMs: 1000 }, retry: { maxAttempts: 1 } },
      );
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "DEAD_LETTERED");
      v.equal("lastError.type", task.lastError?.type, "START_TO_CLOSE_TIMEOUT");
      const [assigned] = eventsOf(await fleet.client.history(id), "TaskAssigned");
      const start = await worker.effects.start(id, 1);
      const expected = Number(assigned?.assignedAt) + 1000;
      v.that(
        start.deadlineMs !== null && Math.abs(start.deadlineMs - expected) <= 5,
        `start.deadlineMs ${start.deadlineMs}, expected assignment + 1000 = ${expected}`,
      );
      v.equal("end.outcome", (await worker.effects.end(id, 1)).outcome, "deadline");
    },
  },
];
