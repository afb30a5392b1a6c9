import {
  status as grpcStatus,
  type ChannelCredentials,
  type Metadata,
  type ClientDuplexStream,
  type StatusObject,
} from "@grpc/grpc-js";
import {
  WorkerServiceClient,
  type DispatcherMessage,
  type Register,
  type Registered,
  type WorkerMessage,
} from "@taskstream/protocol/workers";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import type { Logger } from "./types.ts";

type Call = ClientDuplexStream<WorkerMessage, DispatcherMessage>;

/** Why a stream ended: its gRPC status code (null when unknown) and details. */
export interface Disconnect {
  address: string;
  code: number | null;
  details: string;
  /** Whether the stream had been registered (false: the dispatcher refused or was unreachable). */
  wasRegistered: boolean;
}

/** Options of a `Connection`. */
export interface ConnectionOptions {
  addresses: string[];
  credentials: ChannelCredentials;
  /** Metadata sent when the stream opens (the API key); none when absent. */
  metadata?: () => Metadata;
  logger: Logger;
  /** Builds the Register message; called on every connect so it carries the current id and attempts. */
  register(): Register;
  onRegistered(registered: Registered, address: string): void;
  onMessage(message: DispatcherMessage): void;
  onDisconnected(disconnect: Disconnect): void;
  /** The dispatcher refused to let the worker resume its identity (PERMISSION_DENIED on Register). */
  onResumeRefused?(details: string): void;
  /**
   * The dispatcher refused the worker for a reason retrying cannot cure — an invalid Register
   * (INVALID_ARGUMENT) or missing authorisation (UNAUTHENTICATED, or PERMISSION_DENIED for a fresh
   * identity): the connection stops reconnecting.
   */
  onRefused?(disconnect: Disconnect): void;
  backoff?: BackoffOptions;
  /** A dispatcher that does not answer Register within this time is given up on (default 10 s). */
  registerTimeoutMs?: number;
  /** gRPC keepalive pings (default: after 10 s of silence, 5 s to answer). */
  keepalive?: { timeMs: number; timeoutMs: number };
}

const DEFAULT_KEEPALIVE = { timeMs: 10_000, timeoutMs: 5_000 };

/**
 * The worker's one stream to the leading dispatcher, kept open across failures: it registers on
 * every (re)connect, tries the addresses round-robin while they refuse (not leader, unreachable),
 * and backs off exponentially between tries. Messages of a stream that has ended are ignored, so a
 * late event of an old stream can never be mistaken for one of the current stream.
 */
export class Connection {
  private readonly options: ConnectionOptions;
  private readonly clients = new Map<string, WorkerServiceClient>();
  private readonly backoff: Backoff;
  private call: Call | null = null;
  private registered = false;
  /** Whether the current stream's Register named a worker id (a resume). */
  private resuming = false;
  private index = 0;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private ended: (() => void) | null = null;

  constructor(options: ConnectionOptions) {
    if (options.addresses.length === 0) throw new Error("at least one dispatcher address is required");
    this.options = options;
    this.backoff = new Backoff(options.backoff);
  }

  /** Whether a registered stream is open now. */
  get connected(): boolean {
    return this.call !== null && this.registered;
  }

  /** Opens the first stream; reconnection then runs by itself until `close`. */
  start(): void {
    if (!this.closed && this.call === null && this.retryTimer === null) this.open();
  }

  /** Writes to the registered stream; false (nothing written) while disconnected. */
  send(message: WorkerMessage): boolean {
    if (!this.call || !this.registered) return false;
    this.call.write(message);
    return true;
  }

  /** Stops reconnecting and half-closes the stream, cancelling it if the dispatcher does not end it. */
  async close(timeoutMs = 2000): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const call = this.call;
    if (call) {
      const ended = new Promise<void>((resolve) => (this.ended = resolve));
      // Half-close: the dispatcher sees a clean end and releases the session at once.
      call.end();
      const timer = setTimeout(() => call.cancel(), timeoutMs);
      await ended;
      clearTimeout(timer);
    }
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(address: string): WorkerServiceClient {
    let client = this.clients.get(address);
    if (!client) {
      // Pings on a quiet connection: a dispatcher that froze or vanished without closing it (a
      // crashed host, a dropped route) ends the stream within timeMs + timeoutMs instead of never.
      const { timeMs, timeoutMs } = this.options.keepalive ?? DEFAULT_KEEPALIVE;
      client = new WorkerServiceClient(address, this.options.credentials, {
        "grpc.keepalive_time_ms": timeMs,
        "grpc.keepalive_timeout_ms": timeoutMs,
        "grpc.keepalive_permit_without_calls": 1,
      });
      this.clients.set(address, client);
    }
    return client;
  }

  private open(): void {
    this.retryTimer = null;
    if (this.closed) return;
    const address = this.options.addresses[this.index % this.options.addresses.length]!;
    const metadata = this.options.metadata?.();
    const call = metadata ? this.client(address).connect(metadata) : this.client(address).connect();
    this.call = call;
    this.registered = false;
    let status: StatusObject | null = null;
    const registerTimer = setTimeout(() => {
      this.options.logger.warn("dispatcher did not answer register in time", { address });
      call.cancel();
    }, this.options.registerTimeoutMs ?? 10_000);

    const receive = (message: DispatcherMessage) => {
      if (this.call !== call) return;
      if (this.registered) return this.options.onMessage(message);
      if (message.msg?.$case !== "registered") return;
      clearTimeout(registerTimer);
      this.registered = true;
      this.backoff.reset();
      this.options.onRegistered(message.msg.value, address);
    };
    call.on("data", (message: DispatcherMessage) => {
      if (message.msg?.$case !== "batch") return receive(message);
      // A batch's messages are handled in order, as if they had arrived one by one.
      for (const inner of message.msg.value.messages) {
        if (inner.msg?.$case === "batch") this.options.logger.warn("nested batch ignored", { address });
        else receive(inner);
      }
    });
    // Errors are also reported through "status"; a listener is still needed so they are not thrown.
    call.on("error", () => {});
    call.on("status", (received: StatusObject) => (status = received));
    // "end" follows "status" and comes after every message already received, so finishing here
    // lets an ack that the dispatcher sent just before closing still be processed.
    call.on("end", () => {
      clearTimeout(registerTimer);
      this.finish(call, address, status);
    });
    const register = this.options.register();
    this.resuming = register.workerId !== "";
    call.write({ msg: { $case: "register", value: register } });
  }

  private finish(call: Call, address: string, status: StatusObject | null): void {
    if (this.call !== call) return;
    const wasRegistered = this.registered;
    this.call = null;
    this.registered = false;
    const disconnect = { address, code: status?.code ?? null, details: status?.details ?? "", wasRegistered };
    this.options.onDisconnected(disconnect);
    if (this.closed) {
      this.ended?.();
      return;
    }
    // A registered stream that broke: its dispatcher probably still leads, so try it again first.
    // One that never registered (unreachable, refused) or that lost leadership: the next address.
    // "not leader", or "not leader: <why>" from a dispatcher that just lost its lease.
    const notLeader = status?.code === grpcStatus.UNAVAILABLE && status.details.startsWith("not leader");
    const code = status?.code;
    const fatal =
      !wasRegistered &&
      (code === grpcStatus.INVALID_ARGUMENT ||
        code === grpcStatus.UNAUTHENTICATED ||
        (code === grpcStatus.PERMISSION_DENIED && !this.resuming));
    if (fatal) {
      this.closed = true;
      this.options.logger.error("dispatcher refused the worker; not reconnecting", { ...disconnect });
      this.options.onRefused?.(disconnect);
      this.ended?.();
      return;
    }
    const resumeRefused = !wasRegistered && status?.code === grpcStatus.PERMISSION_DENIED;
    if (resumeRefused) this.options.onResumeRefused?.(status.details);
    // A refused resume: the same dispatcher at once, now as a new worker.
    if ((!wasRegistered && !resumeRefused) || notLeader) this.index++;
    const delay = resumeRefused ? 0 : this.backoff.next();
    this.options.logger.info("dispatcher stream ended; reconnecting", { ...disconnect, delayMs: delay });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }
}
