import type { TaskHistoryEvent, TaskInfo, TaskstreamClient } from "../../sdk/typescript/src/index.ts";

export const TERMINAL = ["SUCCEEDED", "DEAD_LETTERED", "CANCELLED"];
const POLL_MS = 25;

/**
 * The task once it is terminal. GetTask is folded from the log by the API, so it sees the
 * dispatcher's writes at once; polling it is how a producer learns the outcome without the read side.
 */
export async function terminal(client: TaskstreamClient, id: string, timeoutMs = 30_000): Promise<TaskInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await client.get(id);
    if (TERMINAL.includes(task.state)) return task;
    if (Date.now() > deadline)
      throw new Error(`task ${id} still ${task.state} (attempt ${task.attempt}) after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** A history event's data as a plain record (the suite only reads a few fields). */
export type EventData = Record<string, unknown>;

/** The data of every event of one type in a task's history, in order. */
export function eventsOf(history: TaskHistoryEvent[], type: string): EventData[] {
  return history.filter((event) => event.type === type).map((event) => event.data as EventData);
}

/** The worker the given attempt was assigned to (TaskAssigned.workerId), "" when none is recorded. */
export function assignedWorker(history: TaskHistoryEvent[], attempt: number): string {
  const assigned = eventsOf(history, "TaskAssigned").find((data) => data.attempt === attempt);
  return typeof assigned?.workerId === "string" ? assigned.workerId : "";
}

/** The error type of each failed attempt (TaskAttemptFailed.error.type), in order. */
export function failureTypes(history: TaskHistoryEvent[]): string[] {
  return eventsOf(history, "TaskAttemptFailed").map((data) => String((data.error as EventData).type));
}
