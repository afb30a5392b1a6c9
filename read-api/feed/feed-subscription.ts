import { GraphQLError } from "graphql";
import type { FeedBatch, FeedEntry } from "../../projections/feed/feed-table.ts";
import {
  advance,
  covers,
  encodePosition,
  parseStreamId,
  type FeedPosition,
  type StreamPoint,
} from "../../projections/feed/feed-position.ts";
import type { FeedHub } from "./feed-hub.ts";
import { matches, type FeedFilter, type FeedStore } from "./feed-store.ts";

/** A feed entry as delivered: with the cursor that resumes right after it. */
export type FeedEvent = FeedEntry & { cursor: string };

/** Entries read from the read model per round while catching up. */
const REPLAY_PAGE = 500;
/** Most events delivered-but-not-taken, and live batches not processed, before the subscriber is dropped. */
const MAX_BUFFERED = 10_000;
const MAX_INBOX = 1_000;

/**
 * One `taskEvents` subscription: replays from the read model what follows its cursor, then goes
 * live on the projector's batches — without a gap or a duplicate (docs/task-feed.md).
 *
 * It listens before it reads, so nothing committed after the read can be missed; it keeps its
 * position per partition and drops what the position already covers, so nothing read twice is
 * delivered twice; and a live batch whose checkpoint moves do not start where the position stands
 * (a message lost, or the catch-up still behind), or word from the hub that its connection came
 * back (messages published meanwhile are lost), sends it back to the read model for everything
 * past the position before it goes on. An AsyncIterator by hand (not a
 * generator) so that `return()` ends it at once, even while it waits.
 */
export class FeedSubscription implements AsyncIterableIterator<{ taskEvents: FeedEvent }> {
  private readonly store: FeedStore;
  private readonly hub: FeedHub;
  private readonly filter: FeedFilter | null | undefined;
  private position: FeedPosition;
  private readonly fromHead: boolean;
  /** Batches received and not processed yet; null: some may have been lost. */
  private readonly inbox: (FeedBatch | null)[] = [];
  private readonly ready: FeedEvent[] = [];
  private readonly waiting: ((result: IteratorResult<{ taskEvents: FeedEvent }>) => void)[] = [];
  private failure: Error | null = null;
  /** Resolves when the subscriber has taken enough that another page may be read. */
  private room: (() => void) | null = null;
  private release: (() => void) | null = null;
  private working = false;
  private done = false;

  private readonly replayPage: number;
  private readonly maxBuffered: number;

  /** `after` null: from the projector's position now (live only). `limits` are for tests. */
  constructor(
    store: FeedStore,
    hub: FeedHub,
    filter: FeedFilter | null | undefined,
    after: FeedPosition | null,
    limits: { replayPage?: number; maxBuffered?: number } = {},
  ) {
    this.replayPage = limits.replayPage ?? REPLAY_PAGE;
    this.maxBuffered = limits.maxBuffered ?? MAX_BUFFERED;
    this.store = store;
    this.hub = hub;
    this.filter = filter;
    this.position = after ?? new Map<number, StreamPoint>();
    this.fromHead = after === null;
  }

  /**
   * Listens, then reads the first page past the cursor; rejects (CURSOR_EXPIRED, a database error)
   * before anything is delivered. The rest of the replay is read as the subscriber takes events.
   */
  async start(): Promise<this> {
    this.release = await this.hub.acquire((batch) => {
      if (this.inbox.length >= MAX_INBOX) return this.fail(tooSlow(this.maxBuffered));
      this.inbox.push(batch);
      this.pump();
    });
    try {
      if (this.fromHead) this.position = await this.store.head();
      // More to replay: before any live batch received meanwhile.
      else if (await this.readPage()) this.inbox.unshift(null);
    } catch (error) {
      this.close();
      throw error;
    }
    this.pump();
    return this;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<{ taskEvents: FeedEvent }>> {
    const event = this.ready.shift();
    if (this.room && this.ready.length < this.replayPage) {
      this.room();
      this.room = null;
    }
    if (event) return Promise.resolve({ value: { taskEvents: event }, done: false });
    if (this.failure) return Promise.reject(this.failure);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  return(): Promise<IteratorResult<{ taskEvents: FeedEvent }>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<{ taskEvents: FeedEvent }>> {
    this.close();
    return Promise.reject(asError(error));
  }

  private close(): void {
    if (this.done) return;
    this.done = true;
    this.release?.();
    this.inbox.length = 0;
    this.room?.();
    this.room = null;
    for (const resolve of this.waiting.splice(0)) resolve({ value: undefined, done: true });
  }

  /**
   * Ends the subscription with an error, after the events already buffered: the subscriber resumes
   * from the last cursor it received, with nothing lost.
   */
  private fail(error: Error): void {
    if (this.done) return;
    this.failure = error;
    const waiting = this.waiting.splice(0);
    this.close();
    for (const resolve of waiting) resolve(Promise.reject(error) as never);
  }

  /** Processes received batches one at a time, in order. */
  private pump(): void {
    if (this.working || this.done || this.release === null) return;
    this.working = true;
    void (async () => {
      try {
        while (this.inbox.length > 0 && !this.done) await this.apply(this.inbox.shift()!);
      } catch (error) {
        this.fail(asError(error));
      } finally {
        this.working = false;
      }
      if (this.inbox.length > 0 && !this.done) this.pump();
    })();
  }

  private async apply(batch: FeedBatch | null): Promise<void> {
    if (batch === null) return this.catchUp();
    const follows = batch.moves.every((m) => covers(this.position, m.partition, parseStreamId(m.expected)));
    if (follows) for (const entry of batch.entries) this.offer(entry, true);
    // Not following: read everything past the position; the batch committed before it was
    // published, so the read sees it whole.
    else await this.catchUp();
    for (const move of batch.moves) advance(this.position, move.partition, parseStreamId(move.next));
  }

  /**
   * Reads past the position until the read model has nothing more, a page at a time, and only as
   * fast as the subscriber takes events: a replay of millions of events is never held in memory.
   */
  private async catchUp(): Promise<void> {
    for (;;) {
      if (this.ready.length >= this.replayPage) await new Promise<void>((resolve) => (this.room = resolve));
      if (this.done || !(await this.readPage())) return;
    }
  }

  /** One page past the position: delivered, and the position moved past it; whether more may follow. */
  private async readPage(): Promise<boolean> {
    const read = await this.store.readPast(this.position, this.filter, this.replayPage);
    if (this.done) return false;
    for (const entry of read.entries) this.offer(entry, false);
    // Past what the read looked at and did not match, too.
    for (const [partition, point] of read.position) advance(this.position, partition, point);
    return read.more;
  }

  /** Delivers an entry the position does not cover yet (when it matches), and moves past it. */
  private offer(entry: FeedEntry, live: boolean): void {
    const point = parseStreamId(entry.streamId);
    if (covers(this.position, entry.partition, point)) return;
    advance(this.position, entry.partition, point);
    if (!matches(entry, this.filter)) return;
    const event = { ...entry, cursor: encodePosition(this.position) };
    const resolve = this.waiting.shift();
    if (resolve) resolve({ value: { taskEvents: event }, done: false });
    // The replay waits for room; live batches cannot wait: past the limit the subscriber goes.
    else if (live && this.ready.length >= this.maxBuffered) this.fail(tooSlow(this.maxBuffered));
    else this.ready.push(event);
  }
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

const tooSlow = (max: number) =>
  new GraphQLError(
    `subscriber too slow: more than ${max} events waiting; resume from the last cursor received`,
    { extensions: { code: "SUBSCRIBER_TOO_SLOW" } },
  );
