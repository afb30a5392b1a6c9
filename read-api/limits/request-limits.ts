import { GraphQLError } from "graphql";

/** Bounds on the work and the answer of one GraphQL request; see docs/graphql-limits.md. */
export interface ResponseLimits {
  /** Longest a request may run; past it, its resolvers stop with an error. */
  timeoutMs: number;
  /** Largest answer, counted as the JSON of the values resolved (payloads, results, event data…). */
  maxResponseBytes: number;
}

export const DEFAULT_RESPONSE_LIMITS: ResponseLimits = {
  timeoutMs: 10_000,
  maxResponseBytes: 16 * 1024 * 1024,
};

/**
 * One request's budget, carried in the GraphQL context: a deadline, a signal that aborts when the
 * client goes away, and a count of the bytes resolved so far. Resolvers that query or return large
 * values check it, so a request that is too slow, too large or abandoned stops doing work instead of
 * running to the end for nobody.
 */
export class RequestLimits {
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly maxResponseBytes: number;
  private readonly timeoutMs: number;
  bytes = 0;

  private readonly clock: () => number;

  constructor(limits: ResponseLimits, signal: AbortSignal, clock: () => number = Date.now) {
    this.clock = clock;
    this.timeoutMs = limits.timeoutMs;
    this.deadline = clock() + limits.timeoutMs;
    this.maxResponseBytes = limits.maxResponseBytes;
    this.signal = signal;
  }

  /** Throws when the client has gone away or the request has run past its time. */
  checkTime(): void {
    if (this.signal.aborted)
      throw new GraphQLError("request abandoned: the client closed the connection", {
        extensions: { code: "REQUEST_ABANDONED" },
      });
    if (this.clock() > this.deadline)
      throw new GraphQLError(`request exceeded its time limit of ${this.timeoutMs} ms`, {
        extensions: { code: "TIMEOUT" },
      });
  }
}

/** Counts `value` (as JSON) against the request's answer size; throws past the limit. */
export function chargeResponse(limits: RequestLimits, value: unknown): void {
  if (value === null || value === undefined) return;
  limits.bytes += typeof value === "string" ? value.length + 2 : (JSON.stringify(value)?.length ?? 0);
  if (limits.bytes > limits.maxResponseBytes)
    throw new GraphQLError(
      `response exceeds ${limits.maxResponseBytes} bytes; ask for fewer tasks, fewer events or fewer fields`,
      { extensions: { code: "RESPONSE_TOO_LARGE" } },
    );
}
