import { gunzipSync, gzipSync } from "node:zlib";
import { compactSpec, expandSpec, type CompactSpec, type TaskState } from "../domain/task/index.ts";

/** A leader's snapshot of one partition: its unfinished tasks as of a log position. */
export interface PartitionSnapshot {
  partition: number;
  /** Every event of the partition at or before this position is folded into `tasks`. */
  position: string;
  /** The epoch of the leader that took it, and when. */
  epoch: number;
  at: number;
  tasks: [taskId: string, state: TaskState][];
}

const FORMAT = 1;

/** The snapshot as stored: JSON (specs without their defaults), gzip-compressed. */
export function encodeSnapshot(snapshot: PartitionSnapshot): Buffer {
  const tasks = snapshot.tasks.map(([id, state]) => [
    id,
    { ...state, spec: state.spec && compactSpec(state.spec) },
  ]);
  return gzipSync(JSON.stringify({ format: FORMAT, ...snapshot, tasks }));
}

/** A stored snapshot, or null when it is of a format this version does not read (rebuild instead). */
export function decodeSnapshot(stored: Buffer): PartitionSnapshot | null {
  const parsed = JSON.parse(gunzipSync(stored).toString("utf8")) as Omit<PartitionSnapshot, "tasks"> & {
    format: number;
    tasks: [string, Omit<TaskState, "spec"> & { spec: CompactSpec | null }][];
  };
  if (parsed.format !== FORMAT) return null;
  return {
    partition: parsed.partition,
    position: parsed.position,
    epoch: parsed.epoch,
    at: parsed.at,
    tasks: parsed.tasks.map(([id, state]) => [id, { ...state, spec: state.spec && expandSpec(state.spec) }]),
  };
}
