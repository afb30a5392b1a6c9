/**
 * Thrown by a handler when retrying cannot help (bad input, a permanent refusal): the dispatcher
 * dead-letters the task at once. Any error with `nonRetryable === true` is treated the same way.
 */
export class NonRetryableError extends Error {
  readonly nonRetryable = true;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    // new.target, so subclasses report their own name as the error type.
    this.name = new.target.name;
  }
}

/** The abort reason of a handler's signal when its attempt was cancelled. */
export class CancelledError extends Error {
  constructor(reason: string) {
    super(reason ? `cancelled: ${reason}` : "cancelled");
    this.name = "CancelledError";
  }
}

/** The abort reason of a handler's signal when its attempt's deadline passed. */
export class DeadlineExceededError extends Error {
  constructor(deadline: Date) {
    super(`deadline ${deadline.toISOString()} exceeded`);
    this.name = "DeadlineExceededError";
  }
}

/** The abort reason of a handler's signal when the worker stopped before the handler finished. */
export class WorkerStoppingError extends Error {
  constructor() {
    super("the worker is stopping");
    this.name = "WorkerStoppingError";
  }
}

/**
 * `Worker.start()`'s rejection when a dispatcher refused the registration for a reason retrying
 * cannot fix: an invalid Register (INVALID_ARGUMENT) or missing authorisation (UNAUTHENTICATED,
 * PERMISSION_DENIED); `code` is the gRPC status.
 */
export class RegistrationError extends Error {
  readonly address: string;
  readonly code: number | null;
  readonly details: string;

  constructor(refusal: { address: string; code: number | null; details: string }) {
    super(`dispatcher ${refusal.address} refused the worker (code ${refusal.code}): ${refusal.details}`);
    this.name = "RegistrationError";
    this.address = refusal.address;
    this.code = refusal.code;
    this.details = refusal.details;
  }
}

/** What the dispatcher records of a thrown value: its message, type and whether to retry. */
export interface ErrorReport {
  message: string;
  errorType: string;
  nonRetryable: boolean;
}

/** Describes anything a handler may throw (not only Errors) for an `AttemptFailed` report. */
export function describeError(error: unknown): ErrorReport {
  if (error instanceof Error) {
    // A subclass that does not set `name` still reports its class name rather than a bare "Error".
    const className = error.constructor?.name;
    const errorType = error.name && error.name !== "Error" ? error.name : className || "Error";
    const nonRetryable = (error as { nonRetryable?: unknown }).nonRetryable === true;
    return { message: error.message, errorType, nonRetryable };
  }
  if (typeof error === "object" && error !== null) {
    const { message, name, nonRetryable } = error as {
      message?: unknown;
      name?: unknown;
      nonRetryable?: unknown;
    };
    return {
      message: typeof message === "string" ? message : safeJson(error),
      errorType: typeof name === "string" && name ? name : "Error",
      nonRetryable: nonRetryable === true,
    };
  }
  return { message: String(error), errorType: "Error", nonRetryable: false };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
