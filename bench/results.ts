import type { SystemName } from "./protocol.ts";
import { aggregate, type Agg } from "./stats.ts";
import type { MemoryReport } from "./system.ts";

/** Memory of one system after N tasks went through it (scenario f). */
export interface MemoryResult {
  tasks: number;
  /** Taken from a smaller run and scaled linearly to `target`. */
  extrapolatedTo: number | null;
  afterDrain: MemoryReport;
  /** With all N tasks submitted and none run: what a live task costs (null when not measured). */
  queued: MemoryReport | null;
  /** After the finished tasks moved to the archive (Taskstream), and how long that took. */
  archived: { report: MemoryReport; ms: number; streamEntriesLeft: number } | null;
  /** Server roles' RSS with all N tasks queued, before the drain (Taskstream's dispatcher holds them). */
  roleRssQueued: Record<string, number>;
  workerRss: number[];
}

/**
 * Every figure of a run, by key (`<scenario>.<system>.<setting>.<figure>`), one value per repetition;
 * tables show the median with min and max.
 */
export class Results {
  private readonly values = new Map<string, number[]>();
  readonly memory = new Map<SystemName, MemoryResult>();
  /** Checks and anomalies worth a line in RESULTS.md (e.g. a drain not confirmed by the read model). */
  readonly notes: string[] = [];

  record(key: string, value: number): void {
    const list = this.values.get(key) ?? [];
    list.push(value);
    this.values.set(key, list);
  }

  agg(key: string): Agg | undefined {
    const list = this.values.get(key);
    return list ? aggregate(list) : undefined;
  }

  median(key: string): number {
    return this.agg(key)?.median ?? Number.NaN;
  }

  note(text: string): void {
    this.notes.push(text);
    console.error(`bench: note: ${text}`);
  }

  /** The keys that start with `prefix`, e.g. every `….redisCalls.` command. */
  keysUnder(prefix: string): string[] {
    return [...this.values.keys()].filter((key) => key.startsWith(prefix));
  }

  toJSON(): Record<string, number[]> {
    return Object.fromEntries(this.values);
  }
}
