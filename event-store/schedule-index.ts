import { gunzipSync, gzipSync } from "node:zlib";
import { evolve, initialState, type ScheduleState } from "../domain/schedule/index.ts";
import { SCHEDULE_PARTITION, type ScheduleStore, type StoredScheduleEvent } from "./schedule-store.ts";

/**
 * Every schedule's state, folded incrementally from the schedule stream: each `refresh()` reads only
 * what was appended since the last. Used by the API to list schedules (read-your-writes, without the
 * read model) and by the leader's scheduler, which follows the stream with `apply()`.
 */
export class ScheduleIndex {
  /** The stream id of the last entry folded ("0-0": none yet). */
  position = "0-0";
  private readonly store: ScheduleStore;
  private readonly states = new Map<string, ScheduleState>();
  private refreshing: Promise<Set<string>> | null = null;

  constructor(store: ScheduleStore) {
    this.store = store;
  }

  /**
   * Folds everything appended since the last call — the first time from the stream's snapshot, if
   * the leader saved one, and the stream after it; returns the ids of the schedules that changed.
   */
  refresh(pageSize = 1000): Promise<Set<string>> {
    // One read at a time: two overlapping reads would fold the same entries (harmless, but wasted).
    this.refreshing ??= (async () => {
      const changed = new Set<string>();
      try {
        if (this.position === "0-0") for (const id of await this.restore()) changed.add(id);
        for (;;) {
          const page = await this.store.readPartition(SCHEDULE_PARTITION, this.position, pageSize);
          for (const id of this.apply(page)) changed.add(id);
          if (page.length < pageSize) return changed;
        }
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /**
   * Folds events read from the stream, in log order. An event at or below a schedule's version is
   * already folded (this process appended it and `set` its state first) and is skipped.
   */
  apply(events: readonly StoredScheduleEvent[]): Set<string> {
    const changed = new Set<string>();
    for (const event of events) {
      const state = this.states.get(event.taskId) ?? initialState();
      if (event.version > state.version) {
        this.states.set(event.taskId, evolve(state, event));
        changed.add(event.taskId);
      }
      this.position = event.streamId;
    }
    return changed;
  }

  /**
   * Saves every schedule's state as of the last folded position, fenced by the leader's `epoch`
   * (docs/snapshots.md): the next reader folds it and only the stream after it.
   */
  async saveSnapshot(epoch: number): Promise<void> {
    const snapshot = { format: 1, position: this.position, schedules: [...this.states] };
    await this.store.saveSnapshot(SCHEDULE_PARTITION, epoch, gzipSync(JSON.stringify(snapshot)));
  }

  private async restore(): Promise<string[]> {
    const stored = await this.store.loadSnapshot(SCHEDULE_PARTITION);
    if (!stored) return [];
    const snapshot = JSON.parse(gunzipSync(stored).toString("utf8")) as {
      format: number;
      position: string;
      schedules: [string, ScheduleState][];
    };
    if (snapshot.format !== 1) return [];
    for (const [id, state] of snapshot.schedules) this.set(id, state);
    this.position = snapshot.position;
    return snapshot.schedules.map(([id]) => id);
  }

  /** Replaces a schedule's state: after this process appended to it, or re-read it from the log. */
  set(id: string, state: ScheduleState): void {
    const known = this.states.get(id);
    if (!known || state.version >= known.version) this.states.set(id, state);
  }

  get(id: string): ScheduleState | undefined {
    return this.states.get(id);
  }

  /** Every schedule known, by id. */
  entries(): IterableIterator<[string, ScheduleState]> {
    return this.states.entries();
  }
}
