import type { TaskRow } from "./task-row.ts";

/**
 * The rows a projector instance committed last, so the next batch folds onto them without reading
 * them back. Only committed rows go in; the whole cache is dropped whenever this instance's view of
 * the read model may be wrong (a checkpoint moved by another instance, a rolled-back or failed
 * transaction). Bounded: past `capacity` the rows written longest ago are forgotten (and read from
 * PostgreSQL again if their task moves on).
 */
export class RowCache {
  private readonly rows = new Map<string, TaskRow>();
  private readonly capacity: number;
  private generation: number | null = null;

  constructor(capacity = 100_000) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.rows.size;
  }

  get(id: string): TaskRow | undefined {
    return this.rows.get(id);
  }

  /** Remembers committed rows, newest last. */
  remember(rows: Iterable<TaskRow>): void {
    for (const row of rows) {
      this.rows.delete(row.id);
      this.rows.set(row.id, row);
    }
    for (const id of this.rows.keys()) {
      if (this.rows.size <= this.capacity) break;
      this.rows.delete(id);
    }
  }

  clear(): void {
    this.rows.clear();
  }

  /**
   * Forgets every row unless the read model is still the generation the rows were read from: a
   * rebuild's swap replaces the tables and bumps the generation (`read_model_generations`).
   */
  keepIfGeneration(generation: number): void {
    if (generation !== this.generation) this.rows.clear();
    this.generation = generation;
  }
}
