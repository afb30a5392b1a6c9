/**
 * Scenarios about how a handler's outcome is recorded: a result, retryable and non-retryable
 * failures, heartbeat details carried to the next attempt, progress, and the result size limit.
 * Each runs against one language's main worker.
 */
import { assignedWorker, eventsOf, failureTypes, terminal } from "../observe.ts";
import type { Scenario } from "../scenario.ts";
import { MAX_RESULT_BYTES } from "../stack.ts";

const FAST_RETRY = { initialBackoffMs: 10, maxBackoffMs: 10 };
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

export const outcomeScenarios: Scenario[] = [
  {
    name: "happy path",
    kind: "each",
    async run({ lang, fleet, worker, submit }, v) {
      const payload = { hello: "world", n: 42, list: [1, "two", null], nested: { ok: true } };
      const key = `happy-${lang}-${Date.now()}`;
      const id = await submit("echo", payload, { idempotencyKey: key });
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "SUCCEEDED");
      v.equal("result", task.result, { echo: payload, attempt: 1, lang });
      const history = await fleet.client.history(id);
      const assigned = eventsOf(history, "TaskAssigned")[0];
      v.equal("TaskAssigned.workerId", assignedWorker(history, 1), worker.id);
      // The start effect carries what the SDK gave the handler: check it against the log.
      const start = await worker.effects.start(id, 1);
      v.equal("start.type", start.type, "echo");
      v.equal("start.lang", start.lang, lang);
      v.equal("start.workerId", start.workerId, worker.id);
      v.equal("start.idempotencyKey", start.idempotencyKey, key);
      v.equal("start.lastDetails", start.lastDetails, null);
      v.equal("start.deadlineMs", start.deadlineMs, assigned?.deadlineAt ?? null);
      v.equal("end.outcome", (await worker.effects.end(id, 1)).outcome, "completed");
      v.equal("effects of the task", worker.effects.of(id).length, 2);
      // A traced submission: the handler runs in the producer's trace (its own span or the
      // submission's, depending on whether the worker records spans; the trace id is the same).
      const traced = await fleet.submitTraced(worker.prefix, "echo", { traced: true }, TRACEPARENT);
      v.equal("traced: state", (await terminal(fleet.client, traced)).state, "SUCCEEDED");
      const tracedStart = await worker.effects.start(traced, 1);
      v.equal(
        "traced: start.traceparent's trace id",
        tracedStart.traceparent?.split("-")[1] ?? null,
        TRACE_ID,
      );
    },
  },
  {
    name: "retry after failure",
    kind: "each",
    async run({ fleet, submit }, v) {
      const id = await submit("fail", { times: 2 }, { retry: { maxAttempts: 5, ...FAST_RETRY } });
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "SUCCEEDED");
      v.equal("attempt", task.attempt, 3);
      v.equal("result", task.result, { attempt: 3 });
      const failures = eventsOf(await fleet.client.history(id), "TaskAttemptFailed");
      v.equal(
        "failed attempts",
        failures.map((f) => f.error),
        [1, 2].map((n) => ({ type: "ConformanceError", message: `attempt ${n} fails`, nonRetryable: false })),
      );
    },
  },
  {
    name: "non-retryable failure",
    kind: "each",
    async run({ fleet, worker, submit }, v) {
      const id = await submit("fatal", {}, { retry: { maxAttempts: 5, ...FAST_RETRY } });
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "DEAD_LETTERED");
      v.equal("attempt", task.attempt, 1);
      v.equal("lastError", task.lastError, {
        type: "ConformanceFatal",
        message: "fatal",
        nonRetryable: true,
      });
      const [deadLettered] = eventsOf(await fleet.client.history(id), "TaskDeadLettered");
      v.equal("TaskDeadLettered.reason", deadLettered?.reason, "NON_RETRYABLE_ERROR");
      v.equal("end.outcome", (await worker.effects.end(id, 1)).outcome, "failed");
    },
  },
  {
    name: "heartbeat details carried",
    kind: "each",
    async run({ fleet, worker, submit }, v) {
      const id = await submit("details", {}, { retry: { maxAttempts: 3, ...FAST_RETRY } });
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "SUCCEEDED");
      v.equal("attempt", task.attempt, 2);
      v.equal("result", task.result, { lastDetails: { step: 1 } });
      v.equal("attempt 2 start.lastDetails", (await worker.effects.start(id, 2)).lastDetails, { step: 1 });
      v.equal("failures", failureTypes(await fleet.client.history(id)), ["ConformanceError"]);
    },
  },
  {
    name: "result too large",
    kind: "each",
    async run({ fleet, worker, submit }, v) {
      const large = await submit("large", { bytes: MAX_RESULT_BYTES + 4096 }, { retry: { maxAttempts: 3 } });
      const refused = await terminal(fleet.client, large);
      v.equal("large: state", refused.state, "DEAD_LETTERED");
      v.equal("large: attempts", refused.attempt, 1);
      v.equal("large: lastError.type", refused.lastError?.type, "RESULT_TOO_LARGE");
      // The stream still works: the next task runs on the same worker.
      const echo = await submit("echo", { after: "large" });
      const task = await terminal(fleet.client, echo);
      v.equal("echo: state", task.state, "SUCCEEDED");
      v.equal("echo: worker", assignedWorker(await fleet.client.history(echo), 1), worker.id);
      v.equal("large: worker", assignedWorker(await fleet.client.history(large), 1), worker.id);
    },
  },
  {
    name: "progress heartbeats",
    kind: "each",
    async run({ fleet, submit }, v) {
      const id = await submit("heartbeat", { beats: 5 });
      const task = await terminal(fleet.client, id);
      v.equal("state", task.state, "SUCCEEDED");
      v.equal("result", task.result, { beats: 5 });
      const progress = eventsOf(await fleet.client.history(id), "TaskProgressRecorded");
      v.that(progress.length >= 1, "no TaskProgressRecorded in the history");
      // Each recorded beat is one the handler sent ({"beat": i}), in the order sent.
      const beats = progress.map((p) => Number((p.details as { beat?: unknown } | null)?.beat));
      const ordered = beats.every((beat, i) => beat >= 1 && beat <= 5 && (i === 0 || beat > beats[i - 1]!));
      v.that(ordered, `progress details ${JSON.stringify(beats)}, expected increasing beats from 1 to 5`);
    },
  },
];
