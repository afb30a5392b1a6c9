import type { AttemptRef } from "@taskstream/protocol/workers";
import { attemptKey } from "./reports.ts";
import type { AttemptRun } from "./task-runner.ts";

/** The attempts whose handlers run in this worker now, by task id and attempt number. */
export class RunningAttempts {
  private readonly runs = new Map<string, AttemptRun>();

  get size(): number {
    return this.runs.size;
  }

  get(taskId: string, attempt: number): AttemptRun | undefined {
    return this.runs.get(attemptKey(taskId, attempt));
  }

  add(run: AttemptRun): void {
    this.runs.set(attemptKey(run.taskId, run.attempt), run);
  }

  /** Removes `run`; false when it is no longer there (it was given up on meanwhile). */
  remove(run: AttemptRun): boolean {
    const key = attemptKey(run.taskId, run.attempt);
    if (this.runs.get(key) !== run) return false;
    return this.runs.delete(key);
  }

  /** Removes and returns every run. */
  takeAll(): AttemptRun[] {
    const runs = [...this.runs.values()];
    this.runs.clear();
    return runs;
  }

  refs(): AttemptRef[] {
    return [...this.runs.values()].map((run) => ({ taskId: run.taskId, attempt: run.attempt }));
  }

  /** Aborts every handler's signal with `reason`. */
  abortAll(reason: Error): void {
    for (const run of this.runs.values()) run.abort(reason);
  }

  /** Resolves true once no handler runs (including ones started meanwhile), or false after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.runs.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, left)));
      const outcomes = [...this.runs.values()].flatMap((run) => run.done ?? []);
      await Promise.race([Promise.allSettled(outcomes), timeout]);
      clearTimeout(timer);
    }
    return true;
  }
}
