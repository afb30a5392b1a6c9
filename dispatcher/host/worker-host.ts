import { randomBytes } from "node:crypto";
import { status, type Metadata, type ServerDuplexStream } from "@grpc/grpc-js";
import type { Principal } from "../../auth/principal.ts";
import { TaskstreamError } from "../../domain/task/index.ts";
import { v7 as uuidv7 } from "uuid";
import type { HostMessage, OwnerMessage } from "../../proto/gen/taskstream/cluster/v1/peers.ts";
import type { DispatcherMessage, Register, WorkerMessage } from "../../proto/gen/taskstream/v1/workers.ts";
import type { Logger } from "../../observability/log.ts";
import type { DispatcherMetrics } from "../../observability/metrics.ts";
import type { HostStats } from "../../queues/dispatch-stats.ts";
import type { DispatcherConfig } from "../context.ts";
import type { Links } from "../links/links.ts";
import { registerProblems } from "../register-rules.ts";
import type { WorkerRegistry } from "../worker-registry.ts";
import type { SessionStream } from "../worker-session.ts";
import type { WorkerTokens } from "../worker-tokens.ts";
import { HostedWorker } from "./hosted-worker.ts";

/** Most reports held for one partition while it has no owner; past it the oldest are dropped (the SDK sends results again). */
const MAX_PENDING = 50_000;
/** A result unacknowledged this long is sent to its partition's owner again. */
const RESEND_AFTER_MS = 3000;

export interface WorkerHostOptions {
  /** This dispatcher's member id. */
  member: string;
  partitions: number;
  partitionOf(taskId: string): number;
  links: Links;
  registry: WorkerRegistry;
  tokens: () => WorkerTokens | null;
  config: DispatcherConfig;
  metrics: DispatcherMetrics;
  log: Logger;
  /** Whether this dispatcher accepts workers now (it is a member of the cluster). */
  accepting: () => boolean;
  /** The caller of a worker stream, from its `authorization` metadata; rejects UNAUTHENTICATED. */
  authenticate: (metadata: Metadata) => Promise<Principal>;
}

/**
 * The workers connected to this dispatcher (docs/partition-ownership.md). A worker connects to any
 * dispatcher, its host, which speaks for it to the owner of every partition: joins it to each, lends
 * its free slots to the partitions that want them (CreditLedger), hands it their assignments and
 * cancels, and carries its reports to the partition of the task they concern. The host also keeps
 * the worker's liveness: a worker silent past the heartbeat timeout is lost, and its partitions
 * are told at once.
 */
export class WorkerHost {
  private readonly options: WorkerHostOptions;
  private readonly workers = new Map<string, HostedWorker>();
  /** Which owner each partition is routed to, and the owner each partition's joins went to. */
  private readonly route = new Map<number, string>();
  private readonly joinedTo = new Map<number, string>();
  /** The owner that last said it does not own the partition (not routed to until it says it does). */
  private readonly goneFrom = new Map<number, string>();
  /** Holders as etcd says. */
  private holders = new Map<number, string>();
  private readonly pending = new Map<number, HostMessage[]>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(options: WorkerHostOptions) {
    this.options = options;
    options.links.on("message", (owner, message) => this.fromOwner(owner, message));
    options.links.on("up", (owner) => this.linkUp(owner));
    options.links.on("down", (owner) => this.linkDown(owner));
  }

  start(): void {
    this.sweeper ??= setInterval(() => this.sweep(), 1000);
  }

  /** Ends every worker's stream (the dispatcher stops): workers reconnect to another dispatcher. */
  async stop(reason: string): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const worker of [...this.workers.values()]) {
      worker.stream.close(status.UNAVAILABLE, `not leader: ${reason}`);
      this.remove(worker, false, "dispatcher stopping");
    }
    await this.options.registry.close();
  }

  /** The workers connected here, for stats. */
  stats(now: number): HostStats {
    return {
      at: new Date(now).toISOString(),
      host: this.options.member,
      workers: [...this.workers.values()].map((worker) => ({
        id: worker.id,
        name: worker.info.name,
        types: worker.info.types,
        labels: worker.info.labels,
        slots: worker.info.slots,
        busy: worker.ledger.attempts.size,
        connected: true,
      })),
    };
  }

  get size(): number {
    return this.workers.size;
  }

  // ——— the partition map ———

  /** etcd's view of who holds each partition changed. */
  holdersChanged(holders: ReadonlyMap<number, string>): void {
    this.holders = new Map(holders);
    for (let partition = 0; partition < this.options.partitions; partition++) {
      const holder = holders.get(partition);
      if (holder !== undefined && this.goneFrom.get(partition) !== holder) this.routeTo(partition, holder);
      else if (holder === undefined) {
        this.goneFrom.delete(partition);
        this.unroute(partition);
      } else if (this.route.get(partition) === holder) this.unroute(partition);
    }
    this.options.links.retain(new Set(holders.values()));
  }

  /** Routes the partition to `owner`: the ledger forgets what was lent to the one before; workers join. */
  private routeTo(partition: number, owner: string): void {
    if (this.route.get(partition) === owner && this.joinedTo.get(partition) === owner) return;
    this.route.set(partition, owner);
    this.options.links.ensure(owner);
    if (!this.options.links.isUp(owner)) return; // joined when the link comes up
    this.join(partition, owner);
  }

  private unroute(partition: number): void {
    if (!this.route.has(partition)) return;
    this.route.delete(partition);
    this.joinedTo.delete(partition);
    // What was lent to the partition's old owner is free again: lend it to the others.
    for (const worker of this.workers.values()) {
      worker.ledger.reset(partition);
      this.lend(worker);
    }
  }

  /** Joins every worker to the partition at `owner`, then sends what waited for an owner. */
  private join(partition: number, owner: string): void {
    this.joinedTo.set(partition, owner);
    for (const worker of this.workers.values()) {
      worker.ledger.reset(partition);
      this.options.links.send(owner, joined(partition, worker));
      this.lend(worker);
    }
    const waiting = this.pending.get(partition) ?? [];
    this.pending.delete(partition);
    for (const message of waiting) this.options.links.send(owner, message);
    const now = Date.now();
    for (const worker of this.workers.values())
      for (const [, result] of worker.unacked)
        if (result.partition === partition) {
          result.sentAt = now;
          this.options.links.send(owner, report(partition, worker.id, result.message));
        }
  }

  private linkUp(owner: string): void {
    for (const [partition, routed] of this.route)
      if (routed === owner && this.goneFrom.get(partition) !== owner) this.join(partition, owner);
  }

  private linkDown(owner: string): void {
    for (const [partition, routed] of this.route) {
      if (routed !== owner) continue;
      this.joinedTo.delete(partition);
      for (const worker of this.workers.values()) worker.ledger.reset(partition);
    }
  }

  /** Sends a message about a partition to its owner, or holds it until the partition has one. */
  private toPartition(partition: number, message: HostMessage): void {
    const owner = this.route.get(partition);
    if (owner !== undefined && this.joinedTo.get(partition) === owner && this.options.links.isUp(owner)) {
      this.options.links.send(owner, message);
      return;
    }
    if (message.msg?.$case !== "report") return; // joins, credits and departures are redone on the next join
    const waiting = this.pending.get(partition) ?? [];
    waiting.push(message);
    if (waiting.length > MAX_PENDING) waiting.splice(0, waiting.length - MAX_PENDING);
    this.pending.set(partition, waiting);
  }

  // ——— from the owners ———

  private fromOwner(owner: string, message: OwnerMessage): void {
    switch (message.msg?.$case) {
      case "batch":
        for (const inner of message.msg.value.messages) this.fromOwner(owner, inner);
        return;
      case "owned": {
        const { partition } = message.msg.value;
        this.goneFrom.delete(partition);
        if (this.route.get(partition) !== owner || this.joinedTo.get(partition) !== owner) {
          this.route.set(partition, owner);
          if (this.options.links.isUp(owner)) this.join(partition, owner);
        }
        return;
      }
      case "gone": {
        const { partition, undelivered } = message.msg.value;
        if (this.route.get(partition) === owner) {
          this.goneFrom.set(partition, owner);
          this.unroute(partition);
        }
        for (const returned of undelivered) this.toPartition(partition, returned);
        // Another holder may be known already.
        const holder = this.holders.get(partition);
        if (holder !== undefined && holder !== owner) this.routeTo(partition, holder);
        return;
      }
      case "deliver":
      case "wanted":
      case "returned":
      case "ended":
      case undefined:
        break;
    }
    const value = message.msg?.value as { partition: number; workerId: string } | undefined;
    if (!value || this.route.get(value.partition) !== owner) return;
    const worker = this.workers.get(value.workerId);
    if (!worker) return;
    switch (message.msg?.$case) {
      case "deliver":
        return this.deliver(worker, value.partition, message.msg.value.message);
      case "wanted":
        worker.ledger.want(value.partition, message.msg.value);
        return this.lend(worker);
      case "returned":
        worker.ledger.returned(value.partition, message.msg.value.count);
        return this.lend(worker);
      case "ended":
        if (worker.ledger.finished(message.msg.value.taskId, message.msg.value.attempt)) this.lend(worker);
        return;
      case undefined:
        return;
    }
  }

  private deliver(worker: HostedWorker, partition: number, message: DispatcherMessage | undefined): void {
    if (!message?.msg) return;
    if (message.msg.$case === "assignment") {
      const { taskId, attempt, priority } = message.msg.value;
      worker.ledger.assigned(partition, taskId, attempt, priority);
    } else if (message.msg.$case === "ack") {
      const { taskId, attempt } = message.msg.value;
      const unacked = worker.unacked.get(taskId);
      if (unacked && attemptOf(unacked.message) === attempt) worker.unacked.delete(taskId);
    }
    worker.send(message);
  }

  /**
   * Lends the worker's free slots to the partitions that want them — in the next turn, so that the
   * wants that arrive together (every partition answering a join) are weighed together.
   */
  private lend(worker: HostedWorker): void {
    if (worker.lendScheduled) return;
    worker.lendScheduled = true;
    setImmediate(() => {
      worker.lendScheduled = false;
      if (this.workers.get(worker.id) !== worker) return;
      for (const [partition, count, elsewhere] of worker.ledger.lend())
        this.toPartition(partition, {
          msg: { $case: "credits", value: { partition, workerId: worker.id, count, elsewhere } },
        });
    });
  }

  // ——— the workers ———

  /** The gRPC WorkerService: one bidirectional stream per worker. */
  connect(call: ServerDuplexStream<WorkerMessage, DispatcherMessage>): void {
    let worker: HostedWorker | null = null;
    let open = true;
    let acceptsBatches = false;
    // The stream's caller, authenticated once as it opens (docs/security.md). Until it is known,
    // what the worker sends waits in `held`, in order.
    let principal: Principal | null = null;
    let held: WorkerMessage[] | null = [];
    const stream: SessionStream = {
      connection: randomBytes(6).toString("base64url"),
      get acceptsBatches() {
        return acceptsBatches;
      },
      send: (message) => {
        if (open) call.write(message);
      },
      close: (code, details) => {
        if (!open) return;
        open = false;
        call.emit("error", Object.assign(new Error(details), { code, details }));
      },
    };
    const receive = (message: WorkerMessage) => {
      if (worker) {
        if (this.workers.get(worker.id) === worker) this.fromWorker(worker, message);
        return;
      }
      if (!open) return;
      if (principal === null) {
        held?.push(message);
        return;
      }
      if (message.msg?.$case !== "register")
        return stream.close(status.FAILED_PRECONDITION, "the first message must be register");
      if (!this.options.accepting())
        return stream.close(status.UNAVAILABLE, "not leader: dispatcher is starting");
      const register = message.msg.value;
      const problems = registerProblems(register, { maxSlots: this.options.config.maxWorkerSlots });
      if (problems.length > 0)
        return stream.close(
          status.INVALID_ARGUMENT,
          problems.map((problem) => `${problem.field}: ${problem.reason}`).join("; "),
        );
      const refusal = workerRefusal(principal, register.types);
      if (refusal) return stream.close(status.PERMISSION_DENIED, refusal);
      const tokens = this.options.tokens();
      if (!tokens) return stream.close(status.UNAVAILABLE, "not leader: dispatcher is starting");
      const keyId = principal.keyId;
      if (register.workerId !== "" && !tokens.verify(register.workerId, register.resumeToken, keyId))
        return stream.close(
          status.PERMISSION_DENIED,
          `register.resume_token: does not prove worker ${register.workerId}; ` +
            "register with an empty worker_id for a new identity",
        );
      acceptsBatches = register.acceptsBatches;
      worker = this.register(register, stream, principal);
      const { heartbeatIntervalMs, heartbeatTimeoutMs, maxResultBytes } = this.options.config;
      stream.send({
        msg: {
          $case: "registered",
          value: {
            workerId: worker.id,
            heartbeatIntervalMs,
            heartbeatTimeoutMs,
            acceptsBatches: true,
            resumeToken: tokens.issue(worker.id, keyId),
            maxResultBytes,
          },
        },
      });
    };
    const arrive = (message: WorkerMessage) => {
      if (message.msg?.$case !== "batch") return receive(message);
      // A batch's messages are handled in order, exactly as if they had arrived one by one.
      for (const inner of message.msg.value.messages) {
        if (inner.msg?.$case === "batch")
          this.options.log.warn({ workerId: worker?.id }, "nested batch ignored");
        else receive(inner);
      }
    };
    this.options.authenticate(call.metadata).then(
      (caller) => {
        principal = caller;
        const waiting = held ?? [];
        held = null;
        for (const message of waiting) arrive(message);
      },
      (error: unknown) => {
        held = null;
        const code =
          error instanceof TaskstreamError && error.code === "UNAUTHENTICATED"
            ? status.UNAUTHENTICATED
            : status.UNAVAILABLE;
        stream.close(code, error instanceof Error ? error.message : String(error));
      },
    );
    call.on("data", (message: WorkerMessage) => arrive(message));
    const finish = () => {
      if (worker && this.workers.get(worker.id) === worker) this.remove(worker, false, "disconnected");
      if (open) {
        open = false;
        call.end();
      }
    };
    call.on("end", finish);
    call.on("error", finish);
    call.on("cancelled", finish);
  }

  private register(register: Register, stream: SessionStream, caller: Principal): HostedWorker {
    const id = register.workerId || uuidv7();
    const previous = this.workers.get(id);
    if (previous) {
      previous.stream.close(status.CANCELLED, "replaced by a newer connection");
      this.workers.delete(id);
    }
    const info = {
      id,
      name: register.name,
      types: register.types,
      labels: register.labels,
      slots: register.slots,
      sdk: register.sdk,
      keyId: caller.keyId,
      namespaces: caller.namespaces === "*" ? null : [...caller.namespaces].sort(),
    };
    const worker = new HostedWorker(info, stream, Date.now(), this.options.config.agingBound);
    // What the worker says it runs holds its slots until it reports on them.
    for (const ref of register.active)
      worker.ledger.attempts.set(ref.taskId, {
        partition: this.options.partitionOf(ref.taskId),
        attempt: ref.attempt,
      });
    this.workers.set(id, worker);
    void this.options.registry
      .register(info, this.options.member)
      .catch((error: unknown) => this.options.log.warn({ err: error }, "worker registration failed"));
    for (let partition = 0; partition < this.options.partitions; partition++) {
      const owner = this.route.get(partition);
      if (owner !== undefined && this.joinedTo.get(partition) === owner)
        this.options.links.send(owner, joined(partition, worker));
    }
    return worker;
  }

  private fromWorker(worker: HostedWorker, message: WorkerMessage): void {
    worker.lastSeenAt = Date.now();
    const msg = message.msg;
    switch (msg?.$case) {
      case "heartbeat":
        this.options.registry.heartbeat(worker.id);
        return;
      case "started":
      case "progress":
        return this.toPartition(
          this.options.partitionOf(msg.value.taskId),
          report(this.options.partitionOf(msg.value.taskId), worker.id, message),
        );
      case "completed":
      case "failed": {
        const { taskId, attempt } = msg.value;
        const partition = this.options.partitionOf(taskId);
        // The worker's slot is free once it reports the result: lent again at once.
        worker.ledger.finished(taskId, attempt);
        worker.unacked.set(taskId, { partition, message, sentAt: Date.now() });
        this.toPartition(partition, report(partition, worker.id, message));
        this.lend(worker);
        return;
      }
      case "batch":
      case "register":
      case undefined:
        return;
    }
  }

  /** The worker is gone from this host: lost (silent), or its stream ended (it may come back). */
  private remove(worker: HostedWorker, lost: boolean, reason: string): void {
    this.workers.delete(worker.id);
    if (lost) this.options.metrics.workerLost(reason);
    void this.options.registry.unregister(worker.id);
    for (let partition = 0; partition < this.options.partitions; partition++)
      this.toPartition(partition, {
        msg: { $case: "left", value: { partition, workerId: worker.id, lost, reason } },
      });
  }

  /** Each hosted worker's ledger, described (CreditLedger.describe). */
  ledgers(): (ReturnType<HostedWorker["ledger"]["describe"]> & { workerId: string })[] {
    return [...this.workers.values()].map((worker) => ({ workerId: worker.id, ...worker.ledger.describe() }));
  }

  /**
   * Once a second: silent workers are lost; unacknowledged results are sent again; free slots are
   * offered again (lending follows each event that frees a slot, and this bounds what a missed
   * one could cost to a second).
   */
  private sweep(): void {
    const now = Date.now();
    for (const worker of [...this.workers.values()]) {
      if (now - worker.lastSeenAt > this.options.config.heartbeatTimeoutMs) {
        worker.stream.close(status.UNAVAILABLE, "heartbeat timeout");
        this.remove(worker, true, "heartbeat timeout");
        continue;
      }
      for (const [, result] of worker.unacked)
        if (now - result.sentAt > RESEND_AFTER_MS) {
          result.sentAt = now;
          this.toPartition(result.partition, report(result.partition, worker.id, result.message));
        }
      if (worker.ledger.free > 0) this.lend(worker);
    }
  }
}

function joined(partition: number, worker: HostedWorker): HostMessage {
  const active = [...worker.ledger.attempts]
    .filter(([, held]) => held.partition === partition)
    .map(([taskId, held]) => ({ taskId, attempt: held.attempt }));
  return {
    msg: {
      $case: "joined",
      value: {
        partition,
        workerId: worker.id,
        name: worker.info.name,
        types: worker.info.types,
        labels: worker.info.labels,
        sdk: worker.info.sdk,
        active,
        slots: worker.info.slots,
      },
    },
  };
}

function report(partition: number, workerId: string, message: WorkerMessage): HostMessage {
  return { msg: { $case: "report", value: { partition, workerId, message } } };
}

function attemptOf(message: WorkerMessage): number | undefined {
  const msg = message.msg;
  return msg?.$case === "completed" || msg?.$case === "failed" ? msg.value.attempt : undefined;
}

/**
 * Why the caller may not connect as a worker for `types`, or null when it may: it needs the
 * `worker` scope, and a key limited to task types may register only for those.
 */
function workerRefusal(principal: Principal, types: readonly string[]): string | null {
  if (!principal.scopes.has("worker")) return 'this API key lacks the "worker" scope';
  const allowed = principal.taskTypes;
  if (allowed === null) return null;
  const others = types.filter((type) => !allowed.has(type));
  return others.length === 0
    ? null
    : `register.types: this API key may not run ${others.map((t) => JSON.stringify(t)).join(", ")}`;
}
