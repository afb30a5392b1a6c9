import type { Redis } from "ioredis";
import type { ProducerConfig, SystemName, Transport, WorkerConfig } from "./protocol.ts";
import type { KeyClass } from "./redis-admin.ts";

/** What a system left behind for N tasks: Redis memory by kind of key, and each process's RSS. */
export interface MemoryReport {
  /** Sum of MEMORY USAGE over the system's keys, by kind. */
  classes: Map<string, KeyClass>;
  totalBytes: number;
  /** used_memory after − before the scenario (noisy on a shared Redis, given as a cross-check). */
  usedMemoryDelta: number;
  /** Stream entries under the system's keys (Taskstream: events). */
  streamEntries: number;
  /** Resident set size of each server role, in bytes. */
  roleRss: Record<string, number>;
  /** A sample of stream entries by event type: how many, and their average field bytes (Taskstream). */
  entrySizes?: Record<string, { count: number; fieldBytes: number; dataBytes: number }>;
}

/** Projection lag observed over one interval (Taskstream only). */
export interface LagReport {
  /** Per task, TaskSucceeded append → row committed (the lag probe). */
  probe: { p50: number; p99: number; max: number; count: number };
  /** The projector's own histogram (per batch, newest event's age at commit), from bucket deltas. */
  histogram: { p50: number; p99: number; count: number };
}

/**
 * A queue system under test, seen by the scenarios: a fresh namespace per `setup`, its worker and
 * producer processes, and what can be checked and measured in Redis (and PostgreSQL) afterwards.
 */
export interface SystemUnderTest {
  readonly name: SystemName;
  /** Unique per setup: names logs, key prefixes, etc. */
  readonly label: string;
  readonly workerScript: string;
  readonly producerScript: string;
  /** How the preload submits (Taskstream: REST batches; BullMQ: addBulk). */
  readonly preloadTransport: Transport;
  /** How steady-state load submits, one task per call. */
  readonly steadyTransport: Transport;
  /** Submission variants of scenario (a): label → transport. */
  readonly submitTransports: Record<string, Transport>;
  /** The runner's own connection to the shared Redis (INFO, SCAN, MEMORY USAGE). */
  readonly admin: Redis;

  setup(): Promise<void>;
  teardown(): Promise<void>;
  workerConfig(index: number, slots: number): WorkerConfig;
  workerExecArgv(): string[];
  producerConfig(): ProducerConfig;

  /** Waits until what the system derives from the log has caught up (Taskstream: the projector). */
  settle(timeoutMs: number): Promise<{ caughtUp: boolean; waitedMs: number }>;
  /** Counts from the system's own records, to confirm a drain: succeeded tasks, etc. */
  verify(): Promise<Record<string, number>>;
  memory(): Promise<MemoryReport>;
  /** Resident set size of each server process now, by role (none for BullMQ). */
  roleRss(): Record<string, number>;
  /** The system's server processes by role (none for BullMQ), for CPU accounting. */
  processIds(): Record<string, number[]>;
  /** Stops (SIGSTOP) or resumes the projector process (`--pause-projector`; absent for BullMQ). */
  pauseProjector?(paused: boolean): void;
  /** The projector's cumulative counts: events applied and batches committed (null for BullMQ). */
  projectorCounts(): Promise<{ events: number; batches: number } | null>;
  /**
   * Waits until the dispatcher's snapshots cover the log (Taskstream: they are part of what a live
   * task costs in Redis); absent for BullMQ.
   */
  awaitSnapshots?(timeoutMs: number): Promise<void>;
  /**
   * Archives every finished task now (Taskstream: the projector restarted with a retention of 0)
   * and waits until the log holds none; null when this layout cannot (absent for BullMQ).
   */
  archiveAll?(timeoutMs: number): Promise<{ ms: number; streamEntriesLeft: number } | null>;
  /** Projection lag: call `begin` before an interval and `end` after it (null for BullMQ). */
  lag: { begin(): Promise<void>; end(): Promise<LagReport> } | null;
}
