/** The window when the task has no heartbeat timeout: progress is then only advisory. */
export const DEFAULT_HEARTBEAT_WINDOW_MS = 30_000;

/**
 * Throttles an attempt's progress reports, as Temporal's SDKs do: the first goes out at once, later
 * ones at most one per window — 80% of the task's heartbeat timeout, so a steady heartbeat always
 * lands in time — with the latest details sent at the end of the window. A handler may call
 * `heartbeat` in a tight loop without flooding the stream or the log.
 */
export class HeartbeatThrottle {
  private readonly windowMs: number;
  private readonly send: (detailsJson: string) => void;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private pending: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(heartbeatTimeoutMs: number, send: (detailsJson: string) => void, now: () => number = Date.now) {
    this.windowMs =
      heartbeatTimeoutMs > 0 ? Math.floor(heartbeatTimeoutMs * 0.8) : DEFAULT_HEARTBEAT_WINDOW_MS;
    this.send = send;
    this.now = now;
  }

  /** Records the latest details; sends them now, or at the end of the current window. */
  beat(detailsJson: string): void {
    const wait = this.lastSentAt + this.windowMs - this.now();
    if (wait <= 0 && this.timer === null) return this.emit(detailsJson);
    this.pending = detailsJson;
    this.timer ??= setTimeout(
      () => {
        this.timer = null;
        if (this.pending !== null) this.emit(this.pending);
      },
      Math.max(0, wait),
    );
  }

  /** Sends held-back details now (before a failure is reported, so the next attempt sees them). */
  flush(): void {
    this.cancel();
    if (this.pending !== null) this.emit(this.pending);
  }

  /** Drops held-back details (the attempt succeeded: no attempt will read them). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private emit(detailsJson: string): void {
    this.pending = null;
    this.lastSentAt = this.now();
    this.send(detailsJson);
  }
}
