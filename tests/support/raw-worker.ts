import { credentials, Metadata, type ClientDuplexStream } from "@grpc/grpc-js";
import {
  WorkerServiceClient,
  type DispatcherMessage,
  type WorkerMessage,
} from "../../proto/gen/taskstream/v1/workers.ts";

type Case<K extends NonNullable<DispatcherMessage["msg"]>["$case"]> = Extract<
  NonNullable<DispatcherMessage["msg"]>,
  { $case: K }
>["value"];

/**
 * A worker speaking the raw protocol, for tests that need to misbehave on purpose (report stale
 * attempts, vanish mid-task) in ways the SDK never would.
 */
export class RawWorker {
  /** Messages not consumed yet by `next`, with batches unpacked. */
  readonly received: DispatcherMessage[] = [];
  /** Every message as it came over the stream (batches not unpacked). */
  readonly wire: DispatcherMessage[] = [];
  readonly client: WorkerServiceClient;
  stream: ClientDuplexStream<WorkerMessage, DispatcherMessage>;
  ended: { code?: number; details?: string } | null = null;
  /** The resume token of the last Registered this stream received. */
  resumeToken = "";
  private waiters: (() => void)[] = [];

  /** `apiKey`: sent as `authorization: Bearer <key>` when the stream opens. */
  constructor(address: string, apiKey?: string) {
    this.client = new WorkerServiceClient(address, credentials.createInsecure());
    const metadata = new Metadata();
    if (apiKey) metadata.set("authorization", `Bearer ${apiKey}`);
    this.stream = this.client.connect(metadata);
    this.stream.on("data", (message: DispatcherMessage) => {
      this.wire.push(message);
      if (message.msg?.$case === "batch") this.received.push(...message.msg.value.messages);
      else this.received.push(message);
      this.wake();
    });
    this.stream.on("error", (error: { code?: number; details?: string }) => {
      this.ended = { code: error.code, details: error.details };
      this.wake();
    });
    this.stream.on("end", () => {
      this.ended ??= {};
      this.wake();
    });
  }

  send(msg: WorkerMessage["msg"]): void {
    this.stream.write({ msg });
  }

  async register(
    types: string[],
    options: {
      slots?: number;
      labels?: Record<string, string>;
      workerId?: string;
      /** Proves `workerId` (a Registered's resumeToken); without it a resume is refused. */
      resumeToken?: string;
      name?: string;
      sdk?: string;
      active?: { taskId: string; attempt: number }[];
      /** Let the dispatcher send DispatcherBatch messages (false: one message at a time). */
      acceptsBatches?: boolean;
    } = {},
  ): Promise<string> {
    this.send({
      $case: "register",
      value: {
        workerId: options.workerId ?? "",
        resumeToken: options.resumeToken ?? "",
        name: options.name ?? "raw",
        types,
        labels: options.labels ?? {},
        slots: options.slots ?? 10,
        sdk: options.sdk ?? "test/raw",
        active: options.active ?? [],
        acceptsBatches: options.acceptsBatches ?? false,
      },
    });
    const registered = await this.next("registered");
    this.resumeToken = registered.resumeToken;
    return registered.workerId;
  }

  /** Waits for (and consumes) the next message of a kind. */
  async next<K extends NonNullable<DispatcherMessage["msg"]>["$case"]>(
    kind: K,
    timeoutMs = 10_000,
  ): Promise<Case<K>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex((m) => m.msg?.$case === kind);
      if (index >= 0) return this.received.splice(index, 1)[0]!.msg!.value as Case<K>;
      if (this.ended && kind !== "registered")
        throw new Error(`stream ended (${JSON.stringify(this.ended)}) while waiting for ${kind}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${kind} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until the stream ends and returns its status. */
  async closed(timeoutMs = 10_000): Promise<{ code?: number; details?: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error("stream did not end");
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.ended;
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
