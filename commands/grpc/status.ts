import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  ResourceExhaustedError,
  TaskstreamError,
  ValidationError,
  type ErrorCode,
} from "../../domain/task/index.ts";

/** gRPC status of each error code: the same table the HTTP shell keeps. */
export const GRPC_STATUS: Record<ErrorCode, status> = {
  VALIDATION: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ILLEGAL_STATE: status.FAILED_PRECONDITION,
  CONCURRENCY: status.ABORTED,
  STALE_EPOCH: status.FAILED_PRECONDITION,
  PAYLOAD_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: status.UNAVAILABLE,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  IDEMPOTENCY_CONFLICT: status.ALREADY_EXISTS,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
};

/** A gRPC error for any thrown value; validation errors carry `field-errors` JSON in the trailers. */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  if (error instanceof TaskstreamError) {
    if (error instanceof ValidationError) metadata.set("field-errors", asciiJson(error.fields));
    if (error instanceof ResourceExhaustedError) metadata.set("retry-after-ms", String(error.retryAfterMs));
    return { code: GRPC_STATUS[error.code], details: error.message, metadata };
  }
  return { code: status.INTERNAL, details: error instanceof Error ? error.message : String(error), metadata };
}

/** JSON with every character outside printable ASCII escaped: gRPC metadata values allow no other. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
