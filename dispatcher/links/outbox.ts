/**
 * Messages gathered during one turn of work and handed on together: `flush` gets them all, in
 * order, once the current synchronous work is done (a microtask), however many were queued.
 */
export class Outbox<M> {
  private queued: M[] = [];
  private scheduled = false;
  private readonly flush: (messages: M[]) => void;

  constructor(flush: (messages: M[]) => void) {
    this.flush = flush;
  }

  push(message: M): void {
    this.queued.push(message);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const messages = this.queued;
      this.queued = [];
      if (messages.length > 0) this.flush(messages);
    });
  }

  /** Drops what is queued (the link went down). */
  clear(): void {
    this.queued = [];
  }
}
