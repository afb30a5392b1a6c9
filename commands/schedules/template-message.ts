import type { TaskTemplate } from "../../domain/schedule/index.ts";
import type { Json } from "../../domain/task/index.ts";
import { submissionFromMessage } from "../grpc/task-spec-message.ts";
import type { TaskSpec as TaskSpecMessage } from "../../proto/gen/taskstream/v1/tasks.ts";

/**
 * The gRPC TaskSpec message ⇄ the task template (the REST submission shape). An idempotency key or
 * runAt is passed on, so that the domain names them as refused rather than dropping them silently.
 */
export function templateFromMessage(message: TaskSpecMessage | undefined): Record<string, unknown> {
  return submissionFromMessage(message, "task.");
}

/** The TaskSpec message of a stored template. */
export function templateMessage(template: TaskTemplate): TaskSpecMessage {
  const t = template as Record<string, Json | undefined>;
  const text = (value: Json | undefined) => (typeof value === "string" ? value : "");
  const int = (value: Json | undefined) => (typeof value === "number" ? value : undefined);
  const labels = (value: Json | undefined) => (value ?? {}) as Record<string, string>;
  return {
    namespace: text(t.namespace),
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
