import { on, type EventEmitter } from "node:events";
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
