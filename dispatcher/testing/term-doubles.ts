import { Registry } from "prom-client";
import { v7 as uuidv7 } from "uuid";
import { taskEvents, taskSpec } from "../../domain/testing/task-events.ts";
import type { TaskSpec, TaskState } from "../../domain/task/index.ts";
import { MemoryEventLog } from "../../event-store/memory-event-log.ts";
import { createDispatcherMetrics } from "../../observability/dispatcher-metrics.ts";
import type { Logger } from "../../observability/log.ts";
import type { DispatcherMetrics } from "../../observability/metrics.ts";
import type { QueueSettings, QueueSettingsSource } from "../../queues/queue-settings.ts";
import type { DispatcherMessage, Register, WorkerMessage } from "../../proto/gen/taskstream/v1/workers.ts";
import type { HostMessage, OwnerMessage } from "../../proto/gen/taskstream/cluster/v1/peers.ts";
import type { DispatcherConfig } from "../context.ts";
import type { LiveTasks } from "../live-tasks.ts";
import { CreditLedger } from "../host/credit-ledger.ts";
import type { WorkerDirectory } from "../worker-registry.ts";
import type { SessionStream, WorkerInfo } from "../worker-session.ts";

/**
 * Stand-ins for what a dispatcher term's parts need from outside, for unit tests over the
 * in-memory log: no Redis, etcd or PostgreSQL, and no mocked modules.
 */

type Message = NonNullable<DispatcherMessage["msg"]>;
type Of<K extends Message["$case"]> = Extract<Message, { $case: K }>["value"];

/** One event-loop turn: what a term queues with setImmediate (matching passes, session writes) has run. */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A worker's stream as the term writes to it: every message kept (batches unpacked), awaitable. */
export class FakeSessionStream implements SessionStream {
  readonly acceptsBatches: boolean;
  readonly connection = "c1";
  /** Every message received, in order, batches unpacked. */
  readonly received: Message[] = [];
  closed: { code: number; details: string } | null = null;
  private readonly taken = new Set<Message>();
  private waiters: (() => void)[] = [];

  constructor(acceptsBatches = true) {
    this.acceptsBatches = acceptsBatches;
  }

  send(message: DispatcherMessage): void {
    const msg = message.msg;
    if (msg?.$case === "batch") for (const inner of msg.value.messages) this.keep(inner.msg);
    else this.keep(msg);
  }

  close(code: number, details: string): void {
    this.closed ??= { code, details };
  }

  /** The messages of one kind received so far. */
  all<K extends Message["$case"]>(kind: K): Of<K>[] {
    return this.received.filter((m) => m.$case === kind).map((m) => m.value as Of<K>);
  }

  /** The next message of a kind not taken yet by an earlier `next` (waits for it). */
  async next<K extends Message["$case"]>(kind: K): Promise<Of<K>> {
    for (;;) {
      const found = this.received.find((m) => m.$case === kind && !this.taken.has(m));
      if (found) {
        this.taken.add(found);
        return found.value as Of<K>;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private keep(message: DispatcherMessage["msg"]): void {
    if (!message) return;
    this.received.push(message);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** A worker's Register message, with overrides. */
export function registerMessage(overrides: Partial<Register> = {}): Register {
  return {
    workerId: "",
    name: "unit",
    types: ["echo"],
    labels: {},
    slots: 4,
    sdk: "test/unit",
    active: [],
    acceptsBatches: true,
    resumeToken: "",
    ...overrides,
  };
}

/** A session's worker info, with overrides. */
export function workerInfo(overrides: Partial<WorkerInfo> = {}): WorkerInfo {
  return {
    id: "w-1",
    name: "unit",
    types: ["echo"],
    labels: {},
    slots: 4,
    sdk: "test/unit",
    keyId: null,
    namespaces: null,
    ...overrides,
  };
}

/** Queue settings that stay as given (refresh counts the calls and changes nothing). */
export class FixedSettings implements QueueSettingsSource {
  refreshes = 0;
  private readonly queues: Map<string, QueueSettings>;
  private readonly concurrency: Map<string, number>;

  constructor(queues: Record<string, Partial<QueueSettings>> = {}, concurrency: Record<string, number> = {}) {
    this.queues = new Map(
      Object.entries(queues).map(([type, settings]) => [
        type,
        { type, ratePerSecond: 0, burst: 0, maxBacklog: 0, retry: null, ...settings },
      ]),
    );
    this.concurrency = new Map(Object.entries(concurrency));
  }

  refresh(): Promise<void> {
    this.refreshes++;
    return Promise.resolve();
  }

  queue(type: string): QueueSettings | undefined {
    return this.queues.get(type);
  }

  concurrencyLimit(key: string): number | undefined {
    return this.concurrency.get(key);
  }
}

/** A worker directory that remembers who registered and who was unregistered. */
export class RecordingDirectory implements WorkerDirectory {
  readonly registered: string[] = [];
  readonly unregistered: string[] = [];
  heartbeats = 0;

  register(worker: WorkerInfo): Promise<void> {
    this.registered.push(worker.id);
    return Promise.resolve();
  }

  heartbeat(): void {
    this.heartbeats++;
  }

  unregister(workerId: string): Promise<void> {
    this.unregistered.push(workerId);
    return Promise.resolve();
  }
}

/** A logger that keeps its warnings and errors (messages only) for assertions. */
export function quietLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    info: () => undefined,
    warn: (_fields, message) => void warnings.push(message),
    error: (_fields, message) => void warnings.push(message),
    warnings,
  };
}

/** The dispatcher's real metrics, on a registry of their own. */
export const unitMetrics = (): DispatcherMetrics => createDispatcherMetrics(new Registry());

/** A term's configuration for unit tests: short liveness limits, default aging. */
export function unitConfig(overrides: Partial<DispatcherConfig> = {}): DispatcherConfig {
  return {
    heartbeatIntervalMs: 100,
    heartbeatTimeoutMs: 1000,
    reconnectGraceMs: 500,
    agingBound: new Array<number>(10).fill(20),
    maxWorkerSlots: 100,
    maxResultBytes: 1 << 20,
    snapshotIntervalMs: 3_600_000,
    ...overrides,
  };
}

/** A new in-memory log (one partition unless told). */
export const memoryLog = (partitions = 1): MemoryEventLog => new MemoryEventLog({ partitions });

/**
 * Submits a task as the command API does (an unfenced append, copied to the intake) and, given the
 * live tasks, folds it there as the intake follower would. Returns its id and its state.
 */
export async function submitTask(
  store: MemoryEventLog,
  live: LiveTasks | null,
  spec: Partial<TaskSpec> = {},
  at = Date.now(),
): Promise<{ id: string; state: TaskState | undefined }> {
  const id = uuidv7();
  await store.append(id, 0, [taskEvents.submitted(at, taskSpec(spec))]);
  if (live) for (const event of await store.readTask(id)) live.apply(event);
  return { id, state: live?.states.get(id) };
}

type OwnerMsg = NonNullable<OwnerMessage["msg"]>;
type OwnerValue<K extends OwnerMsg["$case"]> = OwnerMsg extends infer M
  ? M extends { $case: K; value: infer V }
    ? V
    : never
  : never;

/**
 * A worker's host as a partition's term sees it (the dispatchers' own protocol): joins workers, lends
 * their slots as credits when the term wants them (the real CreditLedger), carries their reports,
 * and keeps what the term sends back — the deliveries for each worker, and its wants, returned
 * credits and ended attempts.
 */
export class FakeHost {
  readonly id: string;
  /** Everything the term sent this host, in order. */
  readonly received: OwnerMsg[] = [];
  private readonly workers = new Map<
    string,
    { stream: FakeSessionStream; ledger: CreditLedger; partition: number }
  >();
  private term: { fromHost(hostId: string, message: HostMessage["msg"]): void } | null = null;

  constructor(id = "host-1") {
    this.id = id;
  }

  /** The function the term's context calls to reach a host. */
  readonly toHost = (hostId: string, message: OwnerMessage): void => {
    const msg = message.msg;
    if (hostId !== this.id || !msg) return;
    this.received.push(msg);
    if (msg.$case === "batch" || msg.$case === "owned" || msg.$case === "gone") return;
    const worker = this.workers.get(msg.value.workerId);
    if (!worker) return;
    const { partition } = msg.value;
    switch (msg.$case) {
      case "deliver": {
        const inner = msg.value.message?.msg;
        if (inner?.$case === "assignment")
          worker.ledger.assigned(partition, inner.value.taskId, inner.value.attempt, inner.value.priority);
        if (msg.value.message) worker.stream.send(msg.value.message);
        return;
      }
      case "wanted":
        worker.ledger.want(partition, msg.value);
        return this.lend(msg.value.workerId);
      case "returned":
        worker.ledger.returned(partition, msg.value.count);
        return this.lend(msg.value.workerId);
      case "ended":
        worker.ledger.finished(msg.value.taskId, msg.value.attempt);
        return this.lend(msg.value.workerId);
    }
  };

  attach(term: { fromHost(hostId: string, message: HostMessage["msg"]): void }): void {
    this.term = term;
  }

  /** Joins a worker with `slots` to the term's partition; its deliveries land in `stream`. */
  join(partition: number, workerId: string, types = ["echo"], slots = 4) {
    const stream = new FakeSessionStream();
    this.workers.set(workerId, { stream, ledger: new CreditLedger(slots), partition });
    const send = (msg: HostMessage["msg"]) => this.term!.fromHost(this.id, msg);
    send({
      $case: "joined",
      value: { partition, workerId, name: workerId, types, labels: {}, sdk: "test/unit", active: [], slots },
    });
    return {
      stream,
      report: (message: WorkerMessage) => {
        const msg = message.msg;
        // A result frees the worker's slot, as the real host does.
        if (msg?.$case === "completed" || msg?.$case === "failed") {
          this.workers.get(workerId)?.ledger.finished(msg.value.taskId, msg.value.attempt);
          this.lend(workerId);
        }
        send({ $case: "report", value: { partition, workerId, message } });
      },
      left: (lost: boolean, reason = "disconnected") => {
        this.workers.delete(workerId);
        send({ $case: "left", value: { partition, workerId, lost, reason } });
      },
    };
  }

  private lend(workerId: string): void {
    setImmediate(() => {
      const worker = this.workers.get(workerId);
      if (!worker) return;
      for (const [partition, count, elsewhere] of worker.ledger.lend())
        this.term?.fromHost(this.id, { $case: "credits", value: { partition, workerId, count, elsewhere } });
    });
  }

  /** The messages of one kind the term sent. */
  all<K extends OwnerMsg["$case"]>(kind: K): OwnerValue<K>[] {
    return this.received.filter((m) => m.$case === kind).map((m) => m.value as OwnerValue<K>);
  }
}
