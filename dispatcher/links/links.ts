import { EventEmitter } from "node:events";
import { createHmac, timingSafeEqual } from "node:crypto";
import { credentials, Metadata, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  PeerServiceClient,
  type HostMessage,
  type OwnerMessage,
  type PeerServiceServer,
} from "../../proto/gen/taskstream/cluster/v1/peers.ts";
import type { Logger } from "../../observability/log.ts";
import { Outbox } from "./outbox.ts";

/** The owner's side of the links: where hosts' messages go, and how it answers each host. */
export interface OwnerEndpoint {
  /**
   * A host linked (or linked again, replacing its earlier link): `send` reaches it until the
   * returned detach is called.
   */
  attach(hostId: string, send: (message: OwnerMessage) => void): () => void;
  receive(hostId: string, message: HostMessage): void;
}

/** What a host hears over its links. */
export interface LinkEvents {
  /** The link to `owner` is up (again): the owner knows nothing of this host's workers yet. */
  up: [owner: string];
  /** The link to `owner` broke: what was sent may be lost. */
  down: [owner: string];
  message: [owner: string, message: OwnerMessage];
}

/** A host's link to one owner. */
interface Link {
  up: boolean;
  send(message: HostMessage): void;
  close(): void;
}

/** HMAC of the host's id with the cluster's secret: proves a linking host belongs to the cluster. */
export function linkProof(secret: Buffer, host: string): string {
  return createHmac("sha256", secret).update(`link:${host}`).digest("base64url");
}

function flatten(messages: OwnerMessage[]): OwnerMessage[] {
  return messages.flatMap((m) => (m.msg?.$case === "batch" ? flatten(m.msg.value.messages) : [m]));
}

/**
 * A host's links to the owners of the partitions (docs/partition-ownership.md): in-process to this
 * dispatcher's own owner, over gRPC (PeerService.Link, one stream per host and owner) to the others.
 * Each link carries the host's messages in order, several per frame; a broken link is announced
 * (`down`) and made again while its owner is wanted (`up`).
 */
export class Links extends EventEmitter<LinkEvents> {
  private readonly host: string;
  private readonly local: OwnerEndpoint;
  private readonly secret: Buffer;
  private readonly log: Logger;
  private readonly links = new Map<string, Link>();

  constructor(host: string, local: OwnerEndpoint, secret: Buffer, log: Logger) {
    super();
    this.host = host;
    this.local = local;
    this.secret = secret;
    this.log = log;
  }

  /** Whether the link to `owner` is up. */
  isUp(owner: string): boolean {
    return this.links.get(owner)?.up === true;
  }

  /** Sends to `owner`, making the link first if there is none (dropped while it is not up). */
  send(owner: string, message: HostMessage): void {
    this.ensure(owner).send(message);
  }

  /** Makes the link to `owner` if there is none; it announces `up` once it is. */
  ensure(owner: string): Link {
    let link = this.links.get(owner);
    if (!link) {
      link = owner === this.host ? this.localLink() : this.peerLink(owner);
      this.links.set(owner, link);
    }
    return link;
  }

  /** Closes the links to owners no longer wanted. */
  retain(owners: ReadonlySet<string>): void {
    for (const [owner, link] of this.links) {
      if (owners.has(owner)) continue;
      this.links.delete(owner);
      link.close();
    }
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  private localLink(): Link {
    const owner = this.host;
    const toOwner = new Outbox<HostMessage>((messages) => {
      for (const message of messages) this.local.receive(this.host, message);
    });
    const toHost = new Outbox<OwnerMessage>((messages) => {
      for (const message of messages) this.emit("message", owner, message);
    });
    const detach = this.local.attach(this.host, (message) => toHost.push(message));
    const link: Link = {
      up: true,
      send: (message) => toOwner.push(message),
      close: () => {
        link.up = false;
        detach();
      },
    };
    queueMicrotask(() => this.emit("up", owner));
    return link;
  }

  private peerLink(owner: string): Link {
    const client = new PeerServiceClient(owner, credentials.createInsecure(), {
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
    });
    let closed = false;
    let call: ReturnType<PeerServiceClient["link"]> | null = null;
    let backoffMs = 100;
    const outbox = new Outbox<HostMessage>((messages) => {
      if (!call || !link.up) return;
      call.write(messages.length === 1 ? messages[0]! : { msg: { $case: "batch", value: { messages } } });
    });
    const link: Link = {
      up: false,
      send: (message) => {
        if (link.up) outbox.push(message);
      },
      close: () => {
        closed = true;
        const wasUp = link.up;
        link.up = false;
        outbox.clear();
        call?.cancel();
        client.close();
        if (wasUp) this.emit("down", owner);
      },
    };
    const connect = () => {
      if (closed) return;
      const current = client.link();
      call = current;
      let opened = false;
      current.write({
        msg: { $case: "hello", value: { host: this.host, proof: linkProof(this.secret, this.host) } },
      });
      const broken = (why: unknown) => {
        if (call !== current) return;
        call = null;
        const wasUp = link.up;
        link.up = false;
        outbox.clear();
        if (wasUp) this.emit("down", owner);
        if (closed) return;
        if (!opened) this.log.debug?.({ owner, err: why }, "link to owner failed; trying again");
        setTimeout(connect, backoffMs).unref();
        backoffMs = Math.min(2000, backoffMs * 2);
      };
      current.on("data", (message: OwnerMessage) => {
        if (!opened) {
          opened = true;
          backoffMs = 100;
        }
        for (const inner of flatten([message])) this.emit("message", owner, inner);
      });
      current.on("error", broken);
      current.on("end", () => broken("ended"));
      // The stream is usable once the owner answered the hello (its first message, `owned` or an
      // empty batch), or at once: writes before then are buffered by the call.
      current.on("metadata", () => {
        if (call !== current || link.up) return;
        link.up = true;
        this.emit("up", owner);
      });
    };
    connect();
    return link;
  }
}

/**
 * The owner's gRPC side of the links: checks the host's hello, then hands its messages to the
 * owner and the owner's to it, several per frame.
 */
export function peerService(owner: OwnerEndpoint, secret: Buffer, log: Logger): PeerServiceServer {
  return {
    link: (call: ServerDuplexStream<HostMessage, OwnerMessage>) => {
      let host: string | null = null;
      let detach: (() => void) | null = null;
      const outbox = new Outbox<OwnerMessage>((messages) => {
        call.write(messages.length === 1 ? messages[0]! : { msg: { $case: "batch", value: { messages } } });
      });
      const receive = (message: HostMessage) => {
        if (message.msg?.$case === "batch") {
          for (const inner of message.msg.value.messages) receive(inner);
          return;
        }
        if (host === null) {
          if (message.msg?.$case !== "hello")
            return call.destroy(new Error("the first message must be hello"));
          const expected = Buffer.from(linkProof(secret, message.msg.value.host));
          const given = Buffer.from(message.msg.value.proof);
          if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
            log.warn({ host: message.msg.value.host }, "link refused: the host's proof does not match");
            return call.destroy(new Error("hello.proof: not a member of this cluster"));
          }
          host = message.msg.value.host;
          call.sendMetadata(new Metadata());
          detach = owner.attach(host, (reply) => outbox.push(reply));
          return;
        }
        owner.receive(host, message);
      };
      call.on("data", receive);
      const finish = () => {
        detach?.();
        detach = null;
        host = null;
        call.end();
      };
      call.on("end", finish);
      call.on("error", finish);
      call.on("cancelled", finish);
    },
  };
}
