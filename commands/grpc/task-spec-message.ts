import { ValidationError, type Json } from "../../domain/task/index.ts";
import type { TaskSpec as TaskSpecMessage } from "../../proto/gen/taskstream/v1/tasks.ts";

/**
 * Maps the proto TaskSpec message to the submission shape the validator reads; unset optionals stay
 * absent, so defaults apply exactly as for a REST submission. Field errors are named under `prefix`.
 */
export function submissionFromMessage(
  message: TaskSpecMessage | undefined,
  prefix: string,
): Record<string, unknown> {
  if (!message) throw new ValidationError([{ field: prefix.slice(0, -1), reason: "is required" }]);
  const out: Record<string, unknown> = { type: message.type };
  if (message.payloadJson !== "") out.payload = parseJson(message.payloadJson, `${prefix}payload_json`);
  if (message.priority !== undefined) out.priority = message.priority;
  if (Object.keys(message.requires).length > 0) out.requires = message.requires;
  if (message.idempotencyKey !== "") out.idempotencyKey = message.idempotencyKey;
  if (message.runAt !== "") out.runAt = message.runAt;
  if (message.retry) out.retry = definedOnly(message.retry);
  if (message.timeouts) out.timeouts = definedOnly(message.timeouts);
  if (Object.keys(message.metadata).length > 0) out.metadata = message.metadata;
  if (message.delayMs !== undefined) out.delayMs = message.delayMs;
  if (message.concurrencyKey !== "") out.concurrencyKey = message.concurrencyKey;
  if (message.concurrencyLimit !== undefined) out.concurrencyLimit = message.concurrencyLimit;
  if (message.namespace !== "") out.namespace = message.namespace;
  return out;
}

function definedOnly(object: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

function parseJson(text: string, field: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new ValidationError([{ field, reason: "is not valid JSON" }]);
  }
}
