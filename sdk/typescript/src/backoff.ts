/** Options of `Backoff`. */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Injected in tests; Math.random otherwise. */
  random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": each delay is half the exponential step plus a random
 * half, so a fleet of workers that lost the same leader does not reconnect in lockstep, yet no
 * delay collapses to zero.
 */
export class Backoff {
  private failures = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 100;
    this.maxMs = options.maxMs ?? 5000;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next try; each call doubles the step up to the cap. */
  next(): number {
    const step = Math.min(this.maxMs, this.initialMs * 2 ** this.failures);
    this.failures = Math.min(this.failures + 1, 30);
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  /** Back to the first step, after a success. */
  reset(): void {
    this.failures = 0;
  }
}
