import { Server, ServerCredentials, status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  WorkerServiceService,
  type Assignment,
  type DispatcherMessage,
  type WorkerMessage,
  type WorkerServiceServer,
} from "../../../proto/gen/taskstream/v1/workers.ts";

type Msg = NonNullable<WorkerMessage["msg"]>;
type Case<K extends Msg["$case"]> = Extract<Msg, { $case: K }>["value"];

/** How a fake dispatcher answers. */
export interface FakeOptions {
  /** End every stream at its Register with UNAVAILABLE and this message (a standby dispatcher). */
  refuse?: string;
  /** Acknowledge completed/failed reports at once (default true). */
  autoAck?: boolean;
  heartbeatIntervalMs?: number;
  /** What Registered says about WorkerBatch and implied starts (default true). */
  acceptsBatches?: boolean;
  /** Announced in Registered as the largest result accepted (default 0: none). */
  maxResultBytes?: number;
}

/** Polls `probe` every few ms until it is truthy; fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => T,
  timeoutMs = 3000,
  what = "condition",
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One worker stream as the fake dispatcher sees it; consumes the worker's messages in order. */
export class FakeStream {
  readonly received: Msg[] = [];
  /** Every message as it came over the stream, batches not unpacked. */
  readonly wire: WorkerMessage[] = [];
  /** Every message ever received, never consumed (for assertions on order). */
  readonly log: Msg[] = [];
  ended = false;
  private readonly call: ServerDuplexStream<WorkerMessage, DispatcherMessage>;

  constructor(call: ServerDuplexStream<WorkerMessage, DispatcherMessage>) {
    this.call = call;
  }

  push(message: Msg): void {
    this.received.push(message);
    this.log.push(message);
  }

  /** Waits for and consumes the next message of a kind. */
  async next<K extends Msg["$case"]>(kind: K, timeoutMs = 3000): Promise<Case<K>> {
    const found = await waitFor(
      () => {
        const index = this.received.findIndex((m) => m.$case === kind);
        return index >= 0 ? this.received.splice(index, 1)[0] : undefined;
      },
      timeoutMs,
      `a ${kind} message`,
    );
    return found.value as Case<K>;
  }

  send(msg: NonNullable<DispatcherMessage["msg"]>): void {
    this.call.write({ msg });
  }

  /** Pushes an assignment with sensible defaults. */
  assign(fields: Partial<Assignment> & { taskId: string; type: string }): void {
    const assignment: Assignment = {
      attempt: 1,
      payloadJson: "",
      idempotencyKey: "",
      priority: 5,
      deadlineUnixMs: 0,
      metadata: {},
      traceparent: "",
      tracestate: "",
      lastDetailsJson: "",
      maxAttempts: 3,
      heartbeatTimeoutMs: 0,
      ...fields,
    };
    this.send({ $case: "assignment", value: assignment });
  }

  ack(taskId: string, attempt = 1, accepted = true): void {
    this.send({
      $case: "ack",
      value: { taskId, attempt, accepted, reason: accepted ? "" : "STALE_ATTEMPT" },
    });
  }

  /** Ends the stream with a status, the way the real dispatcher does. */
  close(code = status.UNAVAILABLE, details = "connection reset"): void {
    this.call.emit("error", Object.assign(new Error(details), { code, details }));
  }
}

/**
 * An in-process WorkerService on 127.0.0.1 with scripted behaviour: a real gRPC server, so the SDK
 * is tested over the same transport it uses in production.
 */
export class FakeDispatcher {
  readonly streams: FakeStream[] = [];
  address = "";
  private readonly server = new Server();
  private readonly options: FakeOptions;
  private nextId = 1;

  private constructor(options: FakeOptions) {
    this.options = options;
    const service: WorkerServiceServer = { connect: (call) => this.connect(call) };
    this.server.addService(WorkerServiceService, service);
  }

  static async start(options: FakeOptions = {}): Promise<FakeDispatcher> {
    const fake = new FakeDispatcher(options);
    const port = await new Promise<number>((resolve, reject) =>
      fake.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    fake.address = `127.0.0.1:${port}`;
    return fake;
  }

  /** Waits for the n-th stream (0-based) to be opened and registered. */
  async stream(index = 0, timeoutMs = 3000): Promise<FakeStream> {
    return waitFor(() => this.streams[index], timeoutMs, `stream #${index}`);
  }

  /** Every Register received, in order. */
  readonly registers: Case<"register">[] = [];
  /** Changing it invalidates every token issued before (as a new cluster secret would). */
  tokenSuffix = "";

  async stop(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }

  private connect(call: ServerDuplexStream<WorkerMessage, DispatcherMessage>): void {
    const stream = new FakeStream(call);
    let registered = false;
    const receive = (msg: Msg | undefined) => {
      if (!msg) return;
      if (!registered && msg.$case === "register") {
        this.registers.push(msg.value);
        if (this.options.refuse) return stream.close(status.UNAVAILABLE, this.options.refuse);
        const resuming = msg.value.workerId !== "";
        if (resuming && msg.value.resumeToken !== `token-${msg.value.workerId}${this.tokenSuffix}`)
          return stream.close(status.PERMISSION_DENIED, "register.resume_token: does not prove the worker");
        registered = true;
        this.streams.push(stream);
        const workerId = msg.value.workerId || `w-${this.nextId++}`;
        const heartbeatIntervalMs = this.options.heartbeatIntervalMs ?? 2000;
        stream.send({
          $case: "registered",
          value: {
            workerId,
            heartbeatIntervalMs,
            heartbeatTimeoutMs: 10_000,
            acceptsBatches: this.options.acceptsBatches ?? true,
            resumeToken: `token-${workerId}${this.tokenSuffix}`,
            maxResultBytes: this.options.maxResultBytes ?? 0,
          },
        });
        return;
      }
      stream.push(msg);
      if (this.options.autoAck !== false && (msg.$case === "completed" || msg.$case === "failed")) {
        stream.ack(msg.value.taskId, msg.value.attempt);
      }
    };
    call.on("data", (message: WorkerMessage) => {
      stream.wire.push(message);
      if (message.msg?.$case !== "batch") return receive(message.msg);
      for (const inner of message.msg.value.messages) receive(inner.msg);
    });
    const end = () => {
      stream.ended = true;
      call.end();
    };
    call.on("end", end);
    call.on("error", () => (stream.ended = true));
    call.on("cancelled", () => (stream.ended = true));
  }
}
