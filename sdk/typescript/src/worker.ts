import { EventEmitter } from "node:events";
import type {
  Assignment,
  AttemptRef,
  DispatcherMessage,
  Register,
  Registered,
  WorkerMessage,
} from "@taskstream/protocol/workers";
import { Connection, type Disconnect } from "./connection.ts";
import { callMetadata, channelCredentials, checkApiKey } from "./credentials.ts";
import { RegistrationError, WorkerStoppingError } from "./errors.ts";
import { defaultLogger } from "./logger.ts";
import { RunningAttempts } from "./attempts.ts";
import { Outbox } from "./outbox.ts";
import { ReportBuffer, attemptKey } from "./reports.ts";
import { AttemptRun, type Outcome } from "./task-runner.ts";
import type { AttemptFailure, Logger, StopOptions, WorkerEvents, WorkerOptions } from "./types.ts";
import { SDK_NAME } from "./version.ts";

type Msg = NonNullable<WorkerMessage["msg"]>;
type Deferred = { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void };

const DEFAULT_HEARTBEAT_MS = 2000;

/**
 * A Taskstream worker: registers its handlers with the leading dispatcher over one gRPC stream, runs
 * up to `slots` attempts at once, heartbeats, and reports every attempt's outcome exactly once per
 * stream until the dispatcher acknowledges it. Emits `WorkerEvents` (registered, assignment,
 * completed, failed, ack, disconnected).
 */
export class Worker extends EventEmitter<WorkerEvents> {
  private readonly options: WorkerOptions & { slots: number; name: string };
  private readonly log: Logger;
  private readonly connection: Connection;
  private readonly reports = new ReportBuffer();
  private readonly running = new RunningAttempts();
  private readonly outbox = new Outbox((messages) => this.write(messages));
  private workerId = "";
  /** Proves `workerId` when registering again (the dispatcher's Registered gave it). */
  private resumeToken = "";
  /** Largest result the dispatcher accepts (0: none announced). */
  private maxResultBytes = 0;
  private dispatcherAcceptsBatches = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private state: "new" | "running" | "stopping" | "stopped" = "new";
  private registeredOnce: Deferred | null = null;
  private stopping: Promise<void> | null = null;

  constructor(options: WorkerOptions) {
    super();
    if (Object.keys(options.handlers).length === 0) throw new Error("a worker needs at least one handler");
    const slots = options.slots ?? 10;
    if (!Number.isInteger(slots) || slots < 1)
      throw new Error(`slots must be a positive integer, got ${slots}`);
    this.options = { ...options, slots, name: options.name ?? `ts-worker-${process.pid}` };
    this.log = options.logger ?? defaultLogger;
    checkApiKey(options.apiKey);
    this.connection = new Connection({
      addresses: options.addresses,
      credentials: channelCredentials(options),
      metadata: () => callMetadata(options.apiKey),
      logger: this.log,
      register: () => this.registerMessage(),
      onRegistered: (registered, address) => this.onRegistered(registered, address),
      onMessage: (message) => this.onMessage(message),
      onDisconnected: (disconnect) => this.onDisconnected(disconnect),
      onResumeRefused: (details) => this.onResumeRefused(details),
      onRefused: (disconnect) => this.onRefused(disconnect),
      keepalive: options.keepalive,
    });
  }

  /** The id the dispatcher gave this worker; "" until the first registration. */
  get id(): string {
    return this.workerId;
  }

  /** How many handlers are running now. */
  get activeCount(): number {
    return this.running.size;
  }

  /** Connects and resolves once registered with a leading dispatcher (retrying until then). */
  start(): Promise<void> {
    if (this.stopping) return Promise.reject(new Error("the worker has been stopped"));
    if (this.registeredOnce) return this.registeredOnce.promise;
    this.registeredOnce = deferred();
    // Marked handled: stopping before registration rejects it, which must not crash a process that
    // called start() without awaiting it. Callers that await still see the rejection.
    this.registeredOnce.promise.catch(() => {});
    this.state = "running";
    this.connection.start();
    return this.registeredOnce.promise;
  }

  /**
   * Stops taking work (new assignments are failed with WORKER_STOPPING so the dispatcher retries
   * them elsewhere), waits up to `graceMs` for running handlers, aborts the rest, waits for the
   * last results to be acknowledged, then closes the stream.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= this.shutdown(
      options.graceMs ?? 30_000,
      options.settleMs ?? 1000,
      options.flushMs ?? 5000,
    );
    return this.stopping;
  }

  private async shutdown(graceMs: number, settleMs: number, flushMs: number): Promise<void> {
    const wasStarted = this.state !== "new";
    this.state = "stopping";
    if (wasStarted) {
      if (!(await this.running.settle(graceMs))) {
        this.running.abortAll(new WorkerStoppingError());
        if (!(await this.running.settle(settleMs))) this.abandonRunning();
      }
      if (!(await this.reports.whenEmpty(flushMs))) {
        this.log.warn("stopping with unacknowledged results", { count: this.reports.size });
      }
    }
    this.stopHeartbeats();
    await this.connection.close();
    this.state = "stopped";
    this.registeredOnce?.reject(new Error("the worker was stopped before it registered"));
  }

  /** Reports handlers that ignored their aborted signal as failed, so their tasks are retried now. */
  private abandonRunning(): void {
    for (const run of this.running.takeAll()) {
      const failure = { taskId: run.taskId, attempt: run.attempt, cancelled: false, nonRetryable: false };
      this.report({
        ...failure,
        message: "the worker stopped before the handler finished",
        errorType: "WORKER_STOPPING",
      });
    }
  }

  private registerMessage(): Register {
    const { name, handlers, labels, slots } = this.options;
    return {
      workerId: this.workerId,
      resumeToken: this.resumeToken,
      name,
      types: Object.keys(handlers),
      labels: labels ?? {},
      slots,
      sdk: SDK_NAME,
      active: this.held(),
      acceptsBatches: true,
    };
  }

  /**
   * Attempts this worker holds: the running ones and those whose result is not acknowledged yet.
   * The latter count too: the dispatcher fails an attempt a reconnecting worker does not list, and
   * the re-sent result would then be rejected as stale.
   */
  private held(): AttemptRef[] {
    const held = new Map<string, AttemptRef>();
    for (const ref of [...this.running.refs(), ...this.reports.unacknowledged()]) {
      held.set(attemptKey(ref.taskId, ref.attempt), ref);
    }
    return [...held.values()];
  }

  private onRegistered(registered: Registered, address: string): void {
    this.workerId = registered.workerId;
    this.resumeToken = registered.resumeToken;
    this.maxResultBytes = registered.maxResultBytes;
    this.dispatcherAcceptsBatches = registered.acceptsBatches;
    this.outbox.impliedStarts = registered.acceptsBatches;
    const heartbeatIntervalMs =
      this.options.heartbeatIntervalMs ?? (registered.heartbeatIntervalMs || DEFAULT_HEARTBEAT_MS);
    this.stopHeartbeats();
    this.heartbeatTimer = setInterval(
      () => this.send({ $case: "heartbeat", value: { active: this.held() } }),
      heartbeatIntervalMs,
    );
    for (const message of this.reports.drain()) this.send(message);
    this.log.info("registered", { workerId: this.workerId, address });
    this.emit("registered", { workerId: this.workerId, address, heartbeatIntervalMs });
    this.registeredOnce?.resolve();
  }

  /**
   * The dispatcher would not let this worker resume its identity (its token no longer proves it,
   * say after the cluster's secret was replaced): register as a new worker. Results of attempts
   * held under the old identity will be refused, and those attempts retried elsewhere.
   */
  private onResumeRefused(details: string): void {
    this.log.warn("worker identity not resumed; registering as a new worker", {
      workerId: this.workerId,
      details,
    });
    this.workerId = "";
    this.resumeToken = "";
  }

  /**
   * Refused for good (a bad Register, no valid API key, a key that may not run these types): the
   * worker stops; `start()` rejects with the dispatcher's reason, and `refused` is emitted.
   */
  private onRefused(disconnect: Disconnect): void {
    const error = new RegistrationError(disconnect);
    this.emit("refused", { address: disconnect.address, code: disconnect.code, details: disconnect.details });
    this.registeredOnce?.reject(error);
    void this.stop({ graceMs: 0, settleMs: 0, flushMs: 0 });
  }

  private onDisconnected(disconnect: Disconnect): void {
    this.stopHeartbeats();
    // Reports queued for the stream that ended: started/progress wait for the next one.
    this.outbox.flush();
    const { address, code, details } = disconnect;
    this.emit("disconnected", { address, code, details });
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private onMessage(message: DispatcherMessage): void {
    switch (message.msg?.$case) {
      case "assignment":
        return this.onAssignment(message.msg.value);
      case "cancel": {
        const { taskId, attempt, reason } = message.msg.value;
        this.running.get(taskId, attempt)?.cancel(reason);
        return;
      }
      case "ack": {
        const ack = message.msg.value;
        this.reports.acknowledge(ack.taskId, ack.attempt);
        if (!ack.accepted) this.log.warn("result not accepted", { ...ack });
        this.emit("ack", { ...ack });
        return;
      }
      // Batches are unpacked by the connection.
      case "batch":
      case "registered":
      case undefined:
        return;
    }
  }

  private onAssignment(a: Assignment): void {
    const { taskId, attempt } = a;
    this.emit("assignment", { taskId, attempt, type: a.type });
    // The same attempt again (e.g. re-sent around a reconnect) must not run twice.
    if (this.running.get(taskId, attempt) || this.reports.holds(taskId, attempt)) {
      return this.log.warn("duplicate assignment ignored", { taskId, attempt });
    }
    const fail = (message: string, errorType: string) =>
      this.report({ taskId, attempt, message, errorType, nonRetryable: false, cancelled: false });
    if (this.state !== "running") return fail("the worker is stopping", "WORKER_STOPPING");
    // The dispatcher counts free slots too; this guards against it being wrong, never over-commits.
    if (this.running.size >= this.options.slots) return fail("worker has no free slot", "NO_SLOT");
    // hasOwn: a type named "toString" must not find Object.prototype's method.
    const handler = Object.hasOwn(this.options.handlers, a.type) ? this.options.handlers[a.type] : undefined;
    if (!handler) return fail(`no handler for task type "${a.type}"`, "UNKNOWN_TASK_TYPE");

    const run = new AttemptRun(a, handler, (detailsJson) =>
      this.send({ $case: "progress", value: { taskId, attempt, detailsJson } }),
    );
    this.running.add(run);
    this.send({ $case: "started", value: { taskId, attempt } });
    void run.start().then((outcome) => this.finish(run, outcome));
  }

  private finish(run: AttemptRun, outcome: Outcome): void {
    // Not ours any more: given up on at shutdown, and already reported as WORKER_STOPPING.
    if (!this.running.remove(run)) return;
    if (outcome.kind === "failed") return this.report(outcome.failure);
    const bytes = Buffer.byteLength(outcome.resultJson);
    if (this.maxResultBytes > 0 && bytes > this.maxResultBytes) {
      // Sent, it would be refused (or end the stream past the message limit): fail the attempt.
      return this.report({
        taskId: run.taskId,
        attempt: run.attempt,
        message: `result of ${bytes} bytes exceeds the limit of ${this.maxResultBytes} bytes`,
        errorType: "RESULT_TOO_LARGE",
        nonRetryable: true,
        cancelled: false,
      });
    }
    const completed = { taskId: run.taskId, attempt: run.attempt, resultJson: outcome.resultJson };
    this.reports.keep({ $case: "completed", value: completed });
    this.send({ $case: "completed", value: completed });
    this.emit("completed", { taskId: run.taskId, attempt: run.attempt, result: outcome.result });
  }

  private report(failure: AttemptFailure): void {
    this.reports.keep({ $case: "failed", value: failure });
    this.send({ $case: "failed", value: failure });
    this.emit("failed", failure);
  }

  /** Queues a report; the queue is written once per event-loop turn (see `write`). */
  private send(message: Msg): void {
    this.outbox.push(message);
  }

  /**
   * Writes one turn's reports: a single message alone, several as one WorkerBatch when the
   * dispatcher accepts batches (one by one otherwise). Started/progress
   * that cannot be written now wait for the next connection; results are kept until acknowledged
   * anyway, and a heartbeat is only useful now.
   */
  private write(messages: Msg[]): void {
    if (messages.length === 1 || !this.dispatcherAcceptsBatches) {
      for (const msg of messages) this.writeOne({ msg }, [msg]);
      return;
    }
    this.writeOne(
      { msg: { $case: "batch", value: { messages: messages.map((msg) => ({ msg })) } } },
      messages,
    );
  }

  private writeOne(message: WorkerMessage, reports: Msg[]): void {
    if (this.connection.send(message)) return;
    for (const msg of reports) {
      if (msg.$case === "started" || msg.$case === "progress") this.reports.defer(msg);
    }
  }
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}
