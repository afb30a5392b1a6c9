import type { RetryPolicy } from "./spec.ts";

/**
 * The backoff before the attempt after `attempt` (1-based): initial × multiplier^(attempt−1), capped
 * at maxBackoffMs, then scaled by `jitter` in [0, 1] ("full jitter" spreads retries of tasks that
 * failed together).
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, jitter: number): number {
  const exponential = policy.initialBackoffMs * Math.pow(policy.backoffMultiplier, Math.max(0, attempt - 1));
  const capped = Math.min(policy.maxBackoffMs, exponential);
  return Math.floor(capped * Math.min(1, Math.max(0, jitter)));
}

/** Whether another attempt may follow `attempt`, given the task's attempt budget. */
export function hasAttemptsLeft(attemptBudget: number, attempt: number): boolean {
  return attempt < attemptBudget;
}
