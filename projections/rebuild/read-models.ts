/**
 * The one place that says which relations make up the tasks projector's read model: everything
 * `commitBatch` writes. A rebuild (docs/projection-rebuild.md) creates each of these tables empty in
 * its shadow schema, folds into them, and swaps them all in together; each view is recreated over
 * the fresh tables and swapped with them. A table the projector writes in its batch transaction
 * belongs in `tables`, or a rebuild would leave it behind.
 *
 * Every table or view a migration creates is either listed here or in LEFT_IN_PLACE, with the reason
 * (read-models.unit.spec.ts checks the migrations against both lists).
 */
export interface ReadModelRelations {
  /** Plain tables, created empty like the live ones (columns, defaults, constraints, indexes, grants). */
  tables: readonly string[];
  /** Views over those tables, recreated from the live definitions. */
  views: readonly string[];
  /**
   * Serial columns that keep the order the projector committed rows in. The rebuild folds the
   * archive task by task, so before the swap it numbers these rows again in `orderBy`, which must
   * follow each partition's log order.
   */
  commitOrder: readonly { table: string; column: string; orderBy: string }[];
}

export const TASKS_READ_MODEL: ReadModelRelations = {
  tables: [
    "tasks",
    "task_event_runs",
    // The side models written in the same batch (projections/side-models.ts).
    "task_state_counts",
    "analytics_minutes",
    "analytics_hours",
    "analytics_worker_minutes",
    "analytics_worker_hours",
    "analytics_open_attempts",
    "task_feed",
  ],
  views: ["task_events"],
  commitOrder: [{ table: "task_feed", column: "seq", orderBy: "stream_ms, stream_seq, partition" }],
};

/** Relations migrations create that a rebuild of the tasks read model leaves where they are. */
export const LEFT_IN_PLACE: Readonly<Record<string, string>> = {
  schema_migrations: "the migrations' own record",
  api_keys: "API keys (auth/key-store.ts): not a projection of the log",
  projection_checkpoints: "positions; the swap moves the tasks projector's rows in its transaction",
  projection_rebuilds: "the rebuild's own state",
  read_model_generations: "bumped by the swap",
  schedules: "the schedules projector's read model, folded from the schedule stream",
  schedule_firings: "the schedules projector's read model",
  schedule_events: "the schedules projector's read model",
  task_event_archive: "the archive: a source of the rebuild, not a fold",
  archive_cursors: "the archiver's positions",
  task_feed_horizon:
    "what retention dropped from the feed: cursors at or before it stay refused, since the rebuilt " +
    "feed lacks the tasks whose archived days were dropped (retention moves it on as before)",
};
