import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TaskCommand } from "./commands.ts";
import { decide } from "./decide.ts";
import { TaskstreamError } from "./errors.ts";
import { isTerminalEvent, type TaskEvent, type TaskEventType } from "./events.ts";
import type { TaskSpec } from "./spec.ts";
import { evolve, fold, initialState, type TaskState } from "./state.ts";

const T0 = 1_700_000_000_000;
const NUM_RUNS = 1_000;

/** A command with its attempt given relative to the task's attempt when it is decided (0 = current). */
type Step =
  | { type: "SubmitTask" }
  | { type: "AssignTask"; workerId: string }
  | { type: "StartAttempt"; offset: number }
  | { type: "RecordProgress"; offset: number }
  | { type: "CompleteAttempt"; offset: number }
  | { type: "FailAttempt"; offset: number; nonRetryable: boolean; cancelled: boolean; jitter: number }
  | { type: "CancelTask" }
  | { type: "ExpireSchedule" }
  | { type: "RetryTask"; maxAttempts: number | null };

/** true `yes` times out of `yes + no`. */
const biased = (yes: number, no: number) =>
  fc.oneof({ arbitrary: fc.constant(true), weight: yes }, { arbitrary: fc.constant(false), weight: no });

/** Mostly the current attempt, often a stale one, sometimes one from the future. */
const offsetArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 6 },
  { arbitrary: fc.integer({ min: -3, max: -1 }), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 },
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.constant({ type: "SubmitTask" as const }), weight: 1 },
  {
    arbitrary: fc.record({ type: fc.constant("AssignTask" as const), workerId: fc.constantFrom("w1", "w2") }),
    weight: 8,
  },
  { arbitrary: fc.record({ type: fc.constant("StartAttempt" as const), offset: offsetArb }), weight: 6 },
  { arbitrary: fc.record({ type: fc.constant("RecordProgress" as const), offset: offsetArb }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant("CompleteAttempt" as const), offset: offsetArb }), weight: 2 },
  {
    arbitrary: fc.record({
      type: fc.constant("FailAttempt" as const),
      offset: offsetArb,
      nonRetryable: biased(1, 4),
      cancelled: fc.boolean(),
      jitter: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    weight: 8,
  },
  { arbitrary: fc.constant({ type: "CancelTask" as const }), weight: 1 },
  { arbitrary: fc.constant({ type: "ExpireSchedule" as const }), weight: 1 },
  {
    arbitrary: fc.record({
      type: fc.constant("RetryTask" as const),
      maxAttempts: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
    }),
    weight: 1,
  },
);

/** Milliseconds between commands: often none, sometimes a little, sometimes past any backoff or runAt. */
const dtArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 2_000 }),
  fc.integer({ min: 10_000, max: 120_000 }),
);

const specArb: fc.Arbitrary<TaskSpec> = fc.record({
  namespace: fc.constant("default"),
  type: fc.constant("job"),
  payload: fc.constant(null),
  priority: fc.integer({ min: 0, max: 9 }),
  requires: fc.constant({}),
  idempotencyKey: fc.constant(null),
  runAt: fc.option(fc.integer({ min: T0, max: T0 + 30_000 }), { freq: 2 }),
  retry: fc.record({
    maxAttempts: fc.integer({ min: 1, max: 5 }),
    initialBackoffMs: fc.integer({ min: 0, max: 5_000 }),
    backoffMultiplier: fc.integer({ min: 1, max: 3 }),
    maxBackoffMs: fc.integer({ min: 0, max: 60_000 }),
  }),
  timeouts: fc.record({
    scheduleToStartMs: fc.constant(null),
    startToCloseMs: fc.option(fc.integer({ min: 1, max: 600_000 })),
    heartbeatMs: fc.constant(null),
  }),
  metadata: fc.constant({}),
  concurrency: fc.constant(null),
  traceparent: fc.constant(null),
  tracestate: fc.constant(null),
});

/** Usually submits first; sometimes starts from commands against a task that does not exist yet. */
const scenarioArb = fc.record({
  spec: specArb,
  submitFirst: biased(9, 1),
  steps: fc.array(fc.tuple(dtArb, stepArb), { minLength: 1, maxLength: 60, size: "medium" }),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never;

function toCommand(step: Step, state: TaskState, spec: TaskSpec, now: number): TaskCommand {
  switch (step.type) {
    case "SubmitTask":
      return { type: "SubmitTask", data: { spec, now } };
    case "AssignTask":
      return { type: "AssignTask", data: { workerId: step.workerId, now } };
    case "StartAttempt":
      return { type: "StartAttempt", data: { attempt: state.attempt + step.offset, workerId: "w1", now } };
    case "RecordProgress":
      return {
        type: "RecordProgress",
        data: { attempt: state.attempt + step.offset, details: { now }, now },
      };
    case "CompleteAttempt":
      return { type: "CompleteAttempt", data: { attempt: state.attempt + step.offset, result: "done", now } };
    case "FailAttempt": {
      const { offset, nonRetryable, cancelled, jitter } = step;
      const error = { message: "boom", type: "Error", nonRetryable };
      return {
        type: "FailAttempt",
        data: { attempt: state.attempt + offset, error, cancelled, jitter, now },
      };
    }
    case "CancelTask":
      return { type: "CancelTask", data: { reason: "user", now } };
    case "ExpireSchedule":
      return { type: "ExpireSchedule", data: { now } };
    case "RetryTask":
      return { type: "RetryTask", data: { maxAttempts: step.maxAttempts, reason: "operator", now } };
  }
}

/** One decision as it happened: the state it was made against, the command and what came of it. */
interface Decision {
  before: TaskState;
  command: TaskCommand;
  events: TaskEvent[];
}

/** Runs a scenario through decide/evolve; a command that throws a domain error leaves the state unchanged. */
function run({ spec, submitFirst, steps }: Scenario): {
  decisions: Decision[];
  history: TaskEvent[];
  state: TaskState;
} {
  let state = initialState();
  let now = T0;
  const decisions: Decision[] = [];
  const history: TaskEvent[] = [];
  const all: [number, Step][] = submitFirst ? [[0, { type: "SubmitTask" }], ...steps] : steps;
  for (const [dt, step] of all) {
    now += dt;
    const command = toCommand(step, state, spec, now);
    let events: TaskEvent[];
    try {
      events = decide(command, state);
    } catch (error) {
      if (!(error instanceof TaskstreamError)) throw error;
      events = [];
    }
    decisions.push({ before: state, command, events });
    history.push(...events);
    state = events.reduce(evolve, state);
  }
  return { decisions, history, state };
}

const ATTEMPT_REPORTS: ReadonlySet<TaskEventType> = new Set([
  "TaskStarted",
  "TaskProgressRecorded",
  "TaskSucceeded",
  "TaskAttemptFailed",
]);
const RESULT_COMMANDS: ReadonlySet<TaskCommand["type"]> = new Set([
  "StartAttempt",
  "CompleteAttempt",
  "FailAttempt",
]);

const property = (check: (outcome: ReturnType<typeof run>, scenario: Scenario) => void) => () =>
  fc.assert(
    fc.property(scenarioArb, (scenario) => check(run(scenario), scenario)),
    { numRuns: NUM_RUNS },
  );

describe("the task decider, over random command sequences", () => {
  it(
    "(a) yields at most one terminal event per life, nothing but rejections after it until an operator revives it",
    property(({ history }) => {
      // A life runs from submission, or from a TaskRevived, to the next TaskRevived.
      const lives: TaskEvent[][] = [[]];
      for (const event of history) {
        if (event.type === "TaskRevived") lives.push([]);
        else lives.at(-1)!.push(event);
      }
      for (const life of lives) {
        const terminalAt = life.findIndex(isTerminalEvent);
        if (terminalAt === -1) continue;
        const after = life.slice(terminalAt + 1).map((e) => e.type);
        expect(after.filter((type) => type !== "TaskResultRejected")).toEqual([]);
      }
      // Only a dead-lettered task is revived.
      history.forEach((event, i) => {
        if (event.type === "TaskRevived") {
          const previous = history
            .slice(0, i)
            .filter((e) => e.type !== "TaskResultRejected")
            .at(-1);
          expect(previous?.type).toBe("TaskDeadLettered");
        }
      });
    }),
  );

  it(
    "(b) accepts reports only from the current attempt; a stale one yields TaskResultRejected",
    property(({ decisions }) => {
      for (const { before, command, events } of decisions) {
        for (const event of events) {
          if (ATTEMPT_REPORTS.has(event.type) && "attempt" in event.data) {
            expect({ event: event.type, attempt: event.data.attempt }).toEqual({
              event: event.type,
              attempt: before.attempt,
            });
          }
        }
        if (RESULT_COMMANDS.has(command.type) && before.state !== "NEW" && "attempt" in command.data) {
          const { attempt } = command.data;
          if (attempt !== before.attempt) {
            expect(events).toHaveLength(1);
            expect(events[0]).toMatchObject({
              type: "TaskResultRejected",
              data: { attempt, currentAttempt: before.attempt },
            });
          }
        }
      }
    }),
  );

  it(
    "(c) numbers assigned attempts 1, 2, 3, … up to the attempt budget (maxAttempts, raised by revivals)",
    property(({ decisions, history }) => {
      const attempts = history.flatMap((e) => (e.type === "TaskAssigned" ? [e.data.attempt] : []));
      expect(attempts).toEqual(attempts.map((_, i) => i + 1));
      for (const { before, events } of decisions) {
        for (const event of events) {
          if (event.type === "TaskAssigned")
            expect(event.data.attempt).toBeLessThanOrEqual(before.attemptBudget);
        }
      }
    }),
  );

  it(
    "(d) versions the state by the number of events folded",
    property(({ decisions, history, state }) => {
      let folded = 0;
      for (const { before, events } of decisions) {
        expect(before.version).toBe(folded);
        folded += events.length;
      }
      expect(state.version).toBe(history.length);
      expect(fold(history)).toEqual(state);
    }),
  );

  it("reaches every outcome often enough for the properties above to mean something", () => {
    const seen = new Map<string, number>();
    const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
    const samples = fc.sample(scenarioArb, { numRuns: NUM_RUNS, seed: 42 });
    for (const scenario of samples) {
      const { history, state } = run(scenario);
      count(state.state);
      for (const type of new Set(history.map((e) => e.type))) count(type);
      for (const e of history) if (e.type === "TaskResultRejected") count(e.data.reason);
      if (history.some((e) => e.type === "TaskAssigned" && e.data.attempt > 1)) count("retried");
      if (history.some((e) => e.type === "TaskDeadLettered" && e.data.reason === "MAX_ATTEMPTS_EXHAUSTED"))
        count("exhausted");
    }
    const wanted = [
      ...["SUCCEEDED", "DEAD_LETTERED", "CANCELLED", "QUEUED", "ASSIGNED"],
      ...["TaskStarted", "TaskProgressRecorded", "TaskCancelRequested", "retried", "exhausted"],
      ...["STALE_ATTEMPT", "TASK_TERMINAL", "NOT_ASSIGNED"],
    ];
    for (const what of wanted) expect(seen.get(what) ?? 0, what).toBeGreaterThanOrEqual(NUM_RUNS / 50);
  });
});
