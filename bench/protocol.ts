/**
 * Messages between the runner and its child processes (IPC with `serialization: "advanced"`, so
 * typed arrays travel as such). Workers and producers of both systems speak the same protocol.
 */

export type SystemName = "taskstream" | "bullmq";

/** What a worker process is told when forked (JSON in argv[2]). */
export interface WorkerConfig {
  system: SystemName;
  index: number;
  slots: number;
  /** Taskstream: the dispatcher's gRPC address. */
  dispatcherAddress?: string;
  /** Taskstream: every dispatcher's address (the SDK moves to whichever leads); overrides the above. */
  dispatcherAddresses?: string[];
  /** BullMQ: Redis host/port, key prefix and queue name. */
  redis?: { host: string; port: number };
  prefix?: string;
  queue?: string;
}

export type ToWorker = { kind: "go" } | { kind: "collect" } | { kind: "stop" };

export interface WorkerProgress {
  kind: "progress";
  index: number;
  started: number;
  completed: number;
  failed: number;
  /** When the first handler of this process started / the last completion was recorded (ms, `now()`). */
  firstStartAt: number;
  lastCompleteAt: number;
  rssBytes: number;
}

export type FromWorker =
  | { kind: "ready"; index: number }
  | WorkerProgress
  | {
      kind: "samples";
      index: number;
      /** submit → handler entry, ms, one per task started since the last collect. */
      start: Float64Array;
      /** submit → completion recorded by the system (Taskstream: ack received; BullMQ: "completed"). */
      complete: Float64Array;
    }
  | { kind: "stopped"; index: number }
  | { kind: "error"; index: number; message: string };

/** What a producer process is told when forked (JSON in argv[2]). */
export interface ProducerConfig {
  system: SystemName;
  /** Taskstream: REST base URL and gRPC address of the API. */
  httpUrl?: string;
  grpcAddress?: string;
  redis?: { host: string; port: number };
  prefix?: string;
  queue?: string;
}

/** Taskstream transports; BullMQ always uses its client (Queue.add / addBulk). */
export type Transport = "rest" | "grpc" | "client";

export type ProducerJob =
  /** Submit `count` tasks as fast as possible in batches of `batch`, `concurrency` calls in flight. */
  | {
      kind: "preload";
      count: number;
      batch: number;
      concurrency: number;
      transport: Transport;
      priorities: boolean;
    }
  /** Closed loop for `seconds`: `concurrency` calls in flight, each of `batch` tasks (1 = the single-task call). */
  | {
      kind: "throughput";
      seconds: number;
      batch: number;
      concurrency: number;
      transport: Transport;
      priorities: boolean;
    }
  /** Open loop: one task per call at `rate` per second for `seconds`, at most `maxInFlight` unanswered. */
  | {
      kind: "rate";
      rate: number;
      seconds: number;
      transport: Transport;
      priorities: boolean;
      maxInFlight: number;
    };

export interface ProducerResult {
  kind: "result";
  submitted: number;
  errors: number;
  firstError: string;
  elapsedMs: number;
  /** Per call: ms from sending to the answer. */
  callLatency: Float64Array;
  /** Open loop: tasks sent more than 10 ms after their scheduled time (producer or `maxInFlight` bound). */
  late: number;
  /** Open loop: from the first scheduled send to the last actual send, ms. */
  sendSpanMs: number;
}

export type FromProducer = { kind: "ready" } | ProducerResult | { kind: "error"; message: string };

/** The no-op payload: the submission time travels with the task. */
export interface BenchPayload {
  t: number;
}

/** The task type (Taskstream) / job name (BullMQ) of every benchmark task. */
export const TASK_TYPE = "noop";

/** Random priority 0–9 (9 most urgent), the same distribution for both systems. */
export function randomPriority(): number {
  return Math.floor(Math.random() * 10);
}

/** Taskstream priority (0–9, 9 most urgent) → BullMQ priority (1 most urgent … 10). */
export function bullmqPriority(priority: number): number {
  return 10 - priority;
}
