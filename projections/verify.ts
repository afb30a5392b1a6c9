import type pg from "pg";
import { fold, type TaskState } from "../domain/task/index.ts";
import type { EventLog } from "../event-store/event-log.ts";
import { STREAM_START } from "../event-store/stream-ids.ts";
import type { TaskRow } from "./task-row.ts";
import { loadTasks } from "./task-table.ts";

/** One field on which a task's read-model row differs from the fold of its log. */
export interface Mismatch {
  taskId: string;
  field: string;
  log: unknown;
  readModel: unknown;
}

export interface VerifyReport {
  checked: number;
  /** Tasks there were to check (in the log, or given); more than `checked` when a limit cut them. */
  total: number;
  mismatches: Mismatch[];
}

export interface VerifyOptions {
  store: EventLog;
  pool: pg.Pool;
  /** The tasks to check; default every task in the log (found by reading every partition). */
  taskIds?: string[];
  /** Checks at most this many tasks. */
  limit?: number;
}

const CHUNK = 500;

/** The compared fields: what the log's fold says and what the row says. */
const FIELDS: [string, (state: TaskState) => unknown, (row: TaskRow) => unknown][] = [
  ["state", (s) => s.state, (r) => r.state],
  ["type", (s) => s.spec?.type ?? null, (r) => r.type],
  ["priority", (s) => s.spec?.priority ?? null, (r) => r.priority],
  ["attempt", (s) => s.attempt, (r) => r.attempt],
  ["version", (s) => s.version, (r) => r.version],
  ["result", (s) => s.result, (r) => r.result],
  ["payload", (s) => s.spec?.payload ?? null, (r) => r.payload],
  ["idempotencyKey", (s) => s.spec?.idempotencyKey ?? null, (r) => r.idempotencyKey],
  ["requires", (s) => s.spec?.requires ?? null, (r) => r.requires],
  ["metadata", (s) => s.spec?.metadata ?? null, (r) => r.metadata],
  ["workerId", (s) => s.workerId, (r) => r.workerId],
  ["maxAttempts", (s) => s.attemptBudget, (r) => r.maxAttempts],
  ["lastError", (s) => s.lastError, (r) => r.lastError],
  ["cancelRequested", (s) => s.cancelRequested, (r) => r.cancelRequested],
];

/**
 * Proves the read model against the source of truth: folds each task's events from the log and
 * compares the result with the task's row. A missing row is a mismatch on field "row". A projector
 * still catching up shows as version mismatches on the newest tasks.
 */
export async function verifyReadModel(options: VerifyOptions): Promise<VerifyReport> {
  const { store, pool, limit } = options;
  const all = options.taskIds ?? (await taskIdsInLog(store));
  const ids = all.slice(0, limit);
  const mismatches: Mismatch[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const [rows, histories] = await Promise.all([
      loadTasks(pool, chunk),
      Promise.all(chunk.map((id) => store.readTask(id))),
    ]);
    chunk.forEach((taskId, index) => {
      const state = fold(histories[index] ?? []);
      const row = rows.get(taskId);
      if (!row) {
        mismatches.push({ taskId, field: "row", log: `${state.version} events`, readModel: null });
        return;
      }
      for (const [field, fromLog, fromRow] of FIELDS) {
        const log = fromLog(state);
        const readModel = fromRow(row);
        if (canonical(log) !== canonical(readModel)) mismatches.push({ taskId, field, log, readModel });
      }
    });
  }
  return { checked: ids.length, total: all.length, mismatches };
}

/** Every task id in the log, in partition then log order. */
async function taskIdsInLog(store: EventLog): Promise<string[]> {
  const ids = new Set<string>();
  for (let partition = 0; partition < store.partitions; partition++) {
    for (let after = STREAM_START; ;) {
      const events = await store.readPartition(partition, after, 1000);
      const last = events.at(-1);
      if (!last) break;
      for (const event of events) ids.add(event.taskId);
      after = last.streamId;
    }
  }
  return [...ids];
}

/** JSON with object keys sorted: PostgreSQL's jsonb does not keep key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** The verdict line: how many tasks were checked, of how many, and what was found among them. */
export function verifySummary(report: VerifyReport): string {
  const found = `${report.mismatches.length} mismatches`;
  if (report.checked < report.total)
    return (
      `checked ${report.checked} of ${report.total} tasks in the log (limited by --limit): ${found} ` +
      `among those checked; ${report.total - report.checked} tasks were not checked`
    );
  return `checked ${report.checked} tasks: ${found}`;
}
