import { on, type EventEmitter } from "node:events";
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

/**
 * Resolves once `dispatcher` is ready: a trusted member whose partitions are all claimed and their
 * terms leading. Waits on its `changed` announcements (a claim made or deleted, a term started).
 */
export async function leading(dispatcher: Dispatcher, timeoutMs = 15_000): Promise<void> {
  try {
    await until(dispatcher, "changed", () => dispatcher.leading, timeoutMs);
  } catch (error) {
    throw new Error(`the dispatcher did not lead within ${timeoutMs} ms`, { cause: error });
  }
}

/**
 * Asks `probe` after each of the term's sweeps — when it sets its gauges and stats, once a second —
 * until it answers (not undefined), at most `sweeps` times: for what the leader reports, not polled.
 */
export async function atSweep<T>(
  emitter: Term | Dispatcher,
  probe: () => Promise<T | undefined>,
  sweeps = 10,
): Promise<T> {
  // A dispatcher announces every partition's sweep: several a second.
  const rounds = "owner" in emitter ? sweeps * 16 : sweeps;
  for (let i = 0; i < rounds; i++) {
    await announced(emitter, "swept");
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
