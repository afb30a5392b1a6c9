import type pg from "pg";
import { fold, type TaskState } from "../domain/task/index.ts";
import type { ArchiveStore } from "../event-store/archive/archive-store.ts";
import type { EventLog } from "../event-store/event-log.ts";
import { TaskHistory } from "../event-store/history.ts";
import type { TaskRow } from "./task-row.ts";
import { loadTasks } from "./task-table.ts";

/** One field on which a task's read-model row differs from the fold of its history. */
export interface Mismatch {
  taskId: string;
  field: string;
  log: unknown;
  readModel: unknown;
}

export interface VerifyReport {
  checked: number;
  /** Tasks there were to check; more than `checked` when a limit cut them. */
  total: number;
  mismatches: Mismatch[];
}

export interface VerifyOptions {
  store: EventLog;
  pool: pg.Pool;
  /** The archive of finished tasks: their histories are read there once they left the log. */
  archive?: ArchiveStore | null;
  /** The tasks to check; default every task (every row, every task in the log and the archive). */
  taskIds?: string[];
  /** Checks at most this many tasks. */
  limit?: number;
  /** After each chunk, with how many tasks were checked so far, of how many there are to check. */
  onProgress?: (checked: number, total: number) => void;
}

const CHUNK = 500;

/** The compared fields: what the history's fold says and what the row says. */
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
 * Proves the read model against the source of truth, in bounded memory whatever the history's
 * size: every row is compared, field by field, with the fold of its task's history (the log, or
 * the archive once the task left it), a chunk at a time; then the log and the archive are scanned
 * for tasks that have no row. A projector still catching up shows as version mismatches on the
 * newest tasks.
 */
export async function verifyReadModel(options: VerifyOptions): Promise<VerifyReport> {
  const { store, pool, limit, onProgress } = options;
  const history = new TaskHistory(store, options.archive ?? null);
  const report: VerifyReport = { checked: 0, total: 0, mismatches: [] };
  const check = async (ids: string[]) => {
    const [rows, histories] = await Promise.all([
      loadTasks(pool, ids),
      Promise.all(ids.map((id) => history.read(id))),
    ]);
    ids.forEach((taskId, index) => compare(taskId, fold(histories[index]!.events), rows.get(taskId), report));
    report.checked += ids.length;
    onProgress?.(report.checked, limit === undefined ? report.total : Math.min(limit, report.total));
  };
  if (options.taskIds) {
    const ids = options.taskIds.slice(0, limit);
    report.total = options.taskIds.length;
    for (let i = 0; i < ids.length; i += CHUNK) await check(ids.slice(i, i + CHUNK));
    return report;
  }
  const { rows: counted } = await pool.query<{ n: number }>("select count(*)::int as n from tasks");
  report.total = counted[0]?.n ?? 0;
  for (let after = ""; ;) {
    const left = limit === undefined ? CHUNK : Math.min(CHUNK, limit - report.checked);
    if (left <= 0) return report;
    const { rows } = await pool.query<{ id: string }>(
      "select id from tasks where id > $1 order by id limit $2",
      [after, left],
    );
    if (rows.length === 0) break;
    await check(rows.map((row) => row.id));
    after = rows.at(-1)!.id;
  }
  // Tasks with no row at all: every task starts with its version-1 event, in the log or the archive.
  const missing = async (ids: string[]) => {
    if (ids.length === 0) return;
    const rows = await loadTasks(pool, ids);
    for (const id of ids) {
      if (rows.has(id)) continue;
      report.mismatches.push({ taskId: id, field: "row", log: "a history", readModel: null });
      report.total++;
    }
  };
  for (let partition = 0; partition < store.partitions; partition++) {
    for await (const page of store.readAll(partition, { pageSize: CHUNK })) {
      await missing(page.filter((event) => event.version === 1).map((event) => event.taskId));
    }
  }
  if (options.archive) {
    for (let after = ""; ;) {
      const ids = await options.archive.taskIds(after, CHUNK);
      if (ids.length === 0) break;
      await missing(ids);
      after = ids.at(-1)!;
    }
  }
  return report;
}

/** The fields on which a task's row differs from the fold of its history (a missing row is one). */
export function rowMismatches(taskId: string, state: TaskState, row: TaskRow | undefined): Mismatch[] {
  const report: VerifyReport = { checked: 0, total: 0, mismatches: [] };
  compare(taskId, state, row, report);
  return report.mismatches;
}

function compare(taskId: string, state: TaskState, row: TaskRow | undefined, report: VerifyReport): void {
  if (!row) {
    report.mismatches.push({ taskId, field: "row", log: `${state.version} events`, readModel: null });
    return;
  }
  for (const [field, fromLog, fromRow] of FIELDS) {
    const log = fromLog(state);
    const readModel = fromRow(row);
    if (canonical(log) !== canonical(readModel)) report.mismatches.push({ taskId, field, log, readModel });
  }
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
      `checked ${report.checked} of ${report.total} tasks (limited by --limit): ${found} ` +
      `among those checked; ${report.total - report.checked} tasks were not checked`
    );
  return `checked ${report.checked} tasks: ${found}`;
}
