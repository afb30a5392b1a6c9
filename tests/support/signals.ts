import { on, once, type EventEmitter } from "node:events";
import type { Dispatcher } from "../../dispatcher/dispatcher.ts";
import type { Term } from "../../dispatcher/term.ts";
import { evolve, fold, type TaskState } from "../../domain/task/index.ts";
import type { EventLog } from "../../event-store/event-log.ts";

/**
 * Awaits the first `name` event of `emitter` whose arguments `accept` takes, and returns them: a
 * test waits for what a component announces (River's test signals) instead of polling its state.
 * Subscribes at once (call it before the action that makes the event); fails after `timeoutMs`,
 * naming the event it waited for. Type `accept`'s parameters with the component's event map
 * (`(info: TermEvents["swept"][0]) => …`): a subclass's map cannot be inferred from it.
 */
export async function announced<A extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  name: string,
  accept: (...args: A) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<A> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    for await (const args of on(emitter, name, { signal })) {
      if (accept(...(args as A))) return args as A;
    }
  } catch (error) {
    if (signal.aborted)
      throw new Error(`no ${name} event as awaited within ${timeoutMs} ms`, { cause: error });
    throw error;
  }
  throw new Error(`${name}: the events ended`);
}

/**
 * Resolves once `holds()` is true: at once when it is already, else at the first `name` event of
 * `emitter` after which it is (checked in the same turn as the subscription, so none is missed).
 */
export async function until(
  emitter: EventEmitter,
  name: string,
  holds: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  if (holds()) return;
  await announced(emitter, name, () => holds(), timeoutMs);
}

/**
 * Resolves with a task's state once `holds` takes it, folding the task's events as the log delivers
 * them (a blocking read of its partition, not a poll of its history). For a test waiting on what
 * another component writes to the log: a dispatcher's start, a retry, a terminal state.
 */
export async function logState(
  store: EventLog,
  taskId: string,
  holds: (state: TaskState) => boolean,
  timeoutMs = 10_000,
): Promise<TaskState> {
  const history = await store.readTask(taskId);
  let state = fold(history);
  if (holds(state)) return state;
  const signal = AbortSignal.timeout(timeoutMs);
  const from = new Map([[store.partitionOf(taskId), history.at(-1)?.streamId ?? "0"]]);
  for await (const batch of store.follow({ from, signal, blockMs: 250 })) {
    for (const event of batch) {
      if (event.taskId !== taskId || event.version !== state.version + 1) continue;
      state = evolve(state, event);
      if (holds(state)) return state;
    }
  }
  throw new Error(
    `task ${taskId} did not reach the awaited state within ${timeoutMs} ms (it is ${state.state})`,
  );
}

/** Resolves at the first of the given events (each emitter with the event it may announce). */
async function first(events: [EventEmitter, string][], signal: AbortSignal): Promise<void> {
  const done = new AbortController();
  const either = AbortSignal.any([signal, done.signal]);
  try {
    await Promise.race(events.map(([emitter, name]) => once(emitter, name, { signal: either })));
  } finally {
    done.abort();
  }
}

/**
 * Resolves once `dispatcher` leads (its lease trusted, its term accepting work): at once, or when
 * its leadership is elected and the term it starts announces `leading`. A term that closes before
 * it leads is waited past, as the dispatcher campaigns again.
 */
export async function leading(dispatcher: Dispatcher, timeoutMs = 15_000): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    while (!dispatcher.leading) {
      const term = dispatcher.term;
      if (term && !term.accepting)
        await first(
          [
            [term, "leading"],
            [term, "closed"],
          ],
          signal,
        );
      else await first([[dispatcher.leadership, "elected"]], signal);
    }
  } catch (error) {
    if (signal.aborted)
      throw new Error(`the dispatcher did not lead within ${timeoutMs} ms`, { cause: error });
    throw error;
  }
}

/**
 * Asks `probe` after each of the term's sweeps — when it sets its gauges and stats, once a second —
 * until it answers (not undefined), at most `sweeps` times: for what the leader reports, not polled.
 */
export async function atSweep<T>(term: Term, probe: () => Promise<T | undefined>, sweeps = 10): Promise<T> {
  for (let i = 0; i < sweeps; i++) {
    await announced(term, "swept");
    const answer = await probe();
    if (answer !== undefined) return answer;
  }
  throw new Error(`not reported within ${sweeps} sweeps`);
}

/** `promise`, or a failure naming `what` when it has not settled within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
