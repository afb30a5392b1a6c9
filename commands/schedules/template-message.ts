import type { TaskTemplate } from "../../domain/schedule/index.ts";
import { ValidationError, type Json } from "../../domain/task/index.ts";
import type { TaskSpec as TaskSpecMessage } from "../../proto/gen/taskstream/v1/tasks.ts";

/**
 * The gRPC TaskSpec message ⇄ the task template (the REST submission shape). Unset optionals stay
 * absent, so defaults apply at each firing exactly as for a REST submission. (Mirrors the mapping of
 * commands/grpc/task-service.ts, which keeps its own private.)
 */
export function templateFromMessage(message: TaskSpecMessage | undefined): Record<string, unknown> {
  if (!message) throw new ValidationError([{ field: "task", reason: "is required" }]);
  const out: Record<string, unknown> = { type: message.type };
  if (message.payloadJson !== "") out.payload = parseJson(message.payloadJson, "task.payload_json");
  if (message.priority !== undefined) out.priority = message.priority;
  if (Object.keys(message.requires).length > 0) out.requires = message.requires;
  // Passed on so that the domain names them as refused, rather than dropping them silently.
  if (message.idempotencyKey !== "") out.idempotencyKey = message.idempotencyKey;
  if (message.runAt !== "") out.runAt = message.runAt;
  if (message.retry) out.retry = definedOnly(message.retry);
  if (message.timeouts) out.timeouts = definedOnly(message.timeouts);
  if (Object.keys(message.metadata).length > 0) out.metadata = message.metadata;
  if (message.delayMs !== undefined) out.delayMs = message.delayMs;
  if (message.concurrencyKey !== "") out.concurrencyKey = message.concurrencyKey;
  if (message.concurrencyLimit !== undefined) out.concurrencyLimit = message.concurrencyLimit;
  return out;
}

/** The TaskSpec message of a stored template. */
export function templateMessage(template: TaskTemplate): TaskSpecMessage {
  const t = template as Record<string, Json | undefined>;
  const text = (value: Json | undefined) => (typeof value === "string" ? value : "");
  const int = (value: Json | undefined) => (typeof value === "number" ? value : undefined);
  const labels = (value: Json | undefined) => (value ?? {}) as Record<string, string>;
  return {
    type: template.type,
    payloadJson: t.payload === undefined ? "" : JSON.stringify(t.payload),
    priority: int(t.priority),
    requires: labels(t.requires),
    idempotencyKey: "",
    runAt: "",
    retry: (t.retry ?? undefined) as TaskSpecMessage["retry"],
    timeouts: (t.timeouts ?? undefined) as TaskSpecMessage["timeouts"],
    metadata: labels(t.metadata),
    delayMs: int(t.delayMs),
    concurrencyKey: text(t.concurrencyKey),
    concurrencyLimit: int(t.concurrencyLimit),
  };
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
