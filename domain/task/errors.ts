/** Typed errors with a stable code; the shells map codes to HTTP statuses and gRPC codes. */
export type ErrorCode =
  | "VALIDATION"
  | "NOT_FOUND"
  | "ILLEGAL_STATE"
  | "CONCURRENCY"
  | "STALE_EPOCH"
  | "PAYLOAD_TOO_LARGE"
  | "RESOURCE_EXHAUSTED"
  | "UNAVAILABLE"
  | "UNIMPLEMENTED"
  | "IDEMPOTENCY_CONFLICT"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED";

/** The HTTP status of each error code: one table for REST, GraphQL extensions and the CLI. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  VALIDATION: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ILLEGAL_STATE: 409,
  CONCURRENCY: 409,
  STALE_EPOCH: 409,
  IDEMPOTENCY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RESOURCE_EXHAUSTED: 429,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
};

export class TaskstreamError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

export interface FieldError {
  field: string;
  reason: string;
}

export class ValidationError extends TaskstreamError {
  readonly fields: FieldError[];
  constructor(fields: FieldError[]) {
    super("VALIDATION", fields.map((f) => `${f.field}: ${f.reason}`).join("; "));
    this.fields = fields;
  }
}

export class NotFoundError extends TaskstreamError {
  constructor(what: string) {
    super("NOT_FOUND", `${what} not found`);
  }
}

export class IllegalStateError extends TaskstreamError {
  constructor(message: string) {
    super("ILLEGAL_STATE", message);
  }
}

export class ConcurrencyError extends TaskstreamError {
  constructor(taskId: string, expected: number, actual: number) {
    super("CONCURRENCY", `task ${taskId}: expected version ${expected}, found ${actual}`);
  }
}

export class StaleEpochError extends TaskstreamError {
  constructor(epoch: number, highest: number) {
    super("STALE_EPOCH", `write fenced: epoch ${epoch} is lower than ${highest}`);
  }
}

export class PayloadTooLargeError extends TaskstreamError {
  constructor(field: string, size: number, limit: number) {
    super("PAYLOAD_TOO_LARGE", `${field}: ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

export class ResourceExhaustedError extends TaskstreamError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super("RESOURCE_EXHAUSTED", message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** An idempotency key already used, inside the dedup window, for a request with other fields. */
export class IdempotencyConflictError extends TaskstreamError {
  readonly taskId: string;
  constructor(key: string, taskId: string) {
    super(
      "IDEMPOTENCY_CONFLICT",
      `idempotencyKey "${key}" was used for a different request (task ${taskId}); use a new key for a new request`,
    );
    this.taskId = taskId;
  }
}

/** No valid credentials: no API key, an unknown or revoked one (401 / UNAUTHENTICATED). */
export class UnauthenticatedError extends TaskstreamError {
  constructor(message: string) {
    super("UNAUTHENTICATED", message);
  }
}

/** Valid credentials without the scope or the namespace the request needs (403 / PERMISSION_DENIED). */
export class PermissionDeniedError extends TaskstreamError {
  constructor(message: string) {
    super("PERMISSION_DENIED", message);
  }
}
