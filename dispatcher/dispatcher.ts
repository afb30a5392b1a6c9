import type { Etcd3 } from "etcd3";
import type { Redis } from "ioredis";
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import type { EventLog } from "../event-store/event-log.ts";
import type {
  DispatcherMessage,
  WorkerMessage,
  WorkerServiceServer,
} from "../proto/gen/taskstream/v1/workers.ts";
import type { DispatcherConfig } from "./context.ts";
import type { Logger } from "../observability/log.ts";
import type { DispatcherMetrics } from "../observability/metrics.ts";
import { Leadership } from "./leadership.ts";
import { publishStats } from "../queues/dispatch-stats.ts";
import type { QueueSettingsStore } from "../queues/queue-settings.ts";
import { Term } from "./term.ts";
import type { Scheduler } from "./schedules/scheduler.ts";
import { WorkerRegistry } from "./worker-registry.ts";
import { WorkerTokens } from "./worker-tokens.ts";
import { registerProblems } from "./register-rules.ts";
import type { SessionStream, WorkerSession } from "./worker-session.ts";

export interface DispatcherOptions {
  store: EventLog;
  redis: Redis;
  etcd: Etcd3;
  /** etcd key namespace, e.g. `/taskstream/ts/`. */
  etcdPrefix: string;
  leaseTtlSeconds: number;
  config: DispatcherConfig;
  metrics: DispatcherMetrics;
  log: Logger;
  settings: QueueSettingsStore;
  /** Fires recurring schedules while this dispatcher leads (dispatcher/schedules/scheduler.ts). */
  scheduler?: Scheduler;
}

/**
 * The dispatcher role: campaigns for leadership, and while it leads runs a Term (see term.ts) that
 * matches ready tasks to connected workers. Workers connect to any dispatcher; a follower ends the
 * stream with UNAVAILABLE so the worker's SDK moves on to the leader.
 */
export class Dispatcher {
  readonly leadership: Leadership;
  readonly registry: WorkerRegistry;
  private readonly options: DispatcherOptions;
  term: Term | null = null;
  private tokens: WorkerTokens | null = null;

  constructor(options: DispatcherOptions) {
    this.options = options;
    this.registry = new WorkerRegistry(
      options.etcd,
      `${options.etcdPrefix}workers/`,
      Math.ceil(options.config.heartbeatTimeoutMs / 1000),
    );
    this.leadership = new Leadership(options.etcd, {
      key: `${options.etcdPrefix}leader`,
      ttlSeconds: options.leaseTtlSeconds,
    });
    this.leadership.on("elected", (epoch: number) => void this.lead(epoch));
    this.leadership.on("demoted", (reason: string) => this.stepDown(reason));
    this.leadership.on("error", (error: unknown) =>
      options.log.warn({ err: error }, "leader election failed"),
    );
  }

  /**
   * Loads the cluster's worker token secret, then campaigns; `address` is this dispatcher's gRPC
   * address as workers reach it.
   */
  async start(address: string): Promise<void> {
    this.tokens ??= await WorkerTokens.load(
      this.options.etcd,
      `${this.options.etcdPrefix}worker-token-secret`,
    );
    this.leadership.start(address);
  }

  async stop(): Promise<void> {
    await this.options.scheduler?.stop(); // waits for a firing in flight; stepDown's stop is then a no-op
    this.stepDown("shutting down");
    await this.leadership.stop();
    await this.registry.close();
  }

  /** Ready: leading inside the lease's trust window, with the log rebuilt; or a healthy follower. */
  get leading(): boolean {
    return this.leadership.trusted && this.term?.accepting === true;
  }

  /** Called as the lease is granted (the `elected` event): the takeover's clock starts here. */
  private async lead(epoch: number): Promise<void> {
    const electedAt = Date.now();
    const term = new Term(
      epoch,
      {
        ...this.options,
        candidate: this.leadership.candidate,
        registry: this.registry,
        publishStats: (stats) => publishStats(this.options.redis, this.options.store.prefix, epoch, stats),
        onFatal: (error) => {
          this.options.log.error({ err: error }, "dispatcher term failed; stepping down");
          const candidate = this.leadership.candidate;
          void this.leadership.stop().then(() => this.leadership.start(candidate));
        },
      },
      electedAt,
    );
    this.term = term;
    try {
      await term.start();
      if (this.term === term) this.options.metrics.leadership(epoch);
      // The same epoch fences the schedule stream; skip if demoted while the term was starting.
      if (this.term === term) await this.options.scheduler?.start(epoch);
    } catch (error) {
      this.options.log.error({ err: error, epoch }, "could not take over; stepping down");
      term.close("takeover failed");
      this.options.metrics.leadership(null);
      await this.options.scheduler?.stop();
      if (this.term === term) this.term = null;
      const candidate = this.leadership.candidate;
      await this.leadership.stop();
      setTimeout(() => this.leadership.start(candidate), 1000);
    }
  }

  private stepDown(reason: string): void {
    this.options.metrics.leadership(null);
    void this.options.scheduler?.stop();
    const term = this.term;
    this.term = null;
    if (term) {
      term.close(reason);
      this.options.log.warn({ epoch: term.epoch, reason }, "dispatcher stepped down");
    }
  }

  /** The gRPC WorkerService: one bidirectional stream per worker. */
  workerService(): WorkerServiceServer {
    return { connect: (call) => this.connect(call) };
  }

  private connect(call: ServerDuplexStream<WorkerMessage, DispatcherMessage>): void {
    let session: WorkerSession | null = null;
    let term: Term | null = null;
    let open = true;
    let acceptsBatches = false;
    const stream: SessionStream = {
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
      if (session && term) {
        void term.report(session, message.msg);
        return;
      }
      if (message.msg?.$case !== "register")
        return stream.close(status.FAILED_PRECONDITION, "the first message must be register");
      term = this.term;
      if (!term?.accepting)
        return stream.close(
          status.UNAVAILABLE,
          this.leadership.isLeader ? "leader is starting" : "not leader",
        );
      const register = message.msg.value;
      const problems = registerProblems(register, { maxSlots: this.options.config.maxWorkerSlots });
      if (problems.length > 0)
        return stream.close(
          status.INVALID_ARGUMENT,
          problems.map((problem) => `${problem.field}: ${problem.reason}`).join("; "),
        );
      const tokens = this.tokens;
      if (!tokens) return stream.close(status.UNAVAILABLE, "dispatcher is starting");
      if (register.workerId !== "" && !tokens.verify(register.workerId, register.resumeToken))
        return stream.close(
          status.PERMISSION_DENIED,
          `register.resume_token: does not prove worker ${register.workerId}; ` +
            "register with an empty worker_id for a new identity",
        );
      acceptsBatches = register.acceptsBatches;
      session = term.register(register, stream);
      const { heartbeatIntervalMs, heartbeatTimeoutMs, maxResultBytes } = this.options.config;
      stream.send({
        msg: {
          $case: "registered",
          value: {
            workerId: session.id,
            heartbeatIntervalMs,
            heartbeatTimeoutMs,
            acceptsBatches: true,
            resumeToken: tokens.issue(session.id),
            maxResultBytes,
          },
        },
      });
    };
    call.on("data", (message: WorkerMessage) => {
      if (message.msg?.$case !== "batch") return receive(message);
      // A batch's messages are handled in order, exactly as if they had arrived one by one.
      for (const inner of message.msg.value.messages) {
        if (inner.msg?.$case === "batch")
          this.options.log.warn({ workerId: session?.id }, "nested batch ignored");
        else receive(inner);
      }
    });
    const finish = () => {
      if (session && term) term.disconnected(session);
      if (open) {
        open = false;
        call.end();
      }
    };
    call.on("end", finish);
    call.on("error", finish);
    call.on("cancelled", finish);
  }
}
