import { ROOT_CONTEXT, SpanKind, context, trace, type Link, type Span } from "@opentelemetry/api";
import { failed, inSpan, recordingSpan, tracer, tracingOn } from "../observability/tracing.ts";
import type { AppendResult } from "./event-log.ts";
import type { QueuedAppend } from "./append-queue.ts";

/**
 * Spans of the event log's appends (docs/tracing.md). An append is traced only when its writer's
 * span records — a submission, an assignment, a recorded result — so background writes make no
 * traces and, with OpenTelemetry off, nothing here runs beyond one check.
 */

/** Starts `taskstream.append` under the writer's recording span; undefined when there is none. */
export function startAppendSpan(
  taskId: string,
  partition: number,
  events: readonly { type: string }[],
  epoch: number | undefined,
): Span | undefined {
  if (!tracingOn() || recordingSpan() === undefined) return undefined;
  const attributes: Record<string, string | number> = {
    "taskstream.task.id": taskId,
    "taskstream.partition": partition,
    "taskstream.events": events.map((event) => event.type).join(","),
  };
  if (epoch !== undefined) attributes["taskstream.epoch"] = epoch;
  return tracer.startSpan("taskstream.append", { kind: SpanKind.INTERNAL, attributes });
}

/** Ends the append's span when the append settles, with its outcome. */
export function endWithOutcome(append: QueuedAppend, span: Span): void {
  const { resolve, reject } = append;
  append.resolve = (result: AppendResult) => {
    span.setAttribute("taskstream.append.outcome", result.kind);
    if (result.kind === "appended") span.setAttribute("taskstream.task.version", result.version);
    span.end();
    resolve(result);
  };
  append.reject = (error: unknown) => {
    failed(span, error);
    span.end();
    reject(error);
  };
}

/**
 * Runs one script call — many tasks' appends at once (group commit) — inside a span
 * `taskstream.append_batch` that links every traced append it carries; the Redis call is its child.
 */
export function inBatchSpan<T>(
  partition: number,
  appends: QueuedAppend[],
  call: () => Promise<T>,
): Promise<T> {
  const links: Link[] = [];
  for (const append of appends) if (append.span) links.push({ context: append.span.spanContext() });
  if (links.length === 0) return call();
  const attributes = { "taskstream.partition": partition, "taskstream.batch.appends": appends.length };
  const span = tracer.startSpan("taskstream.append_batch", { root: true, links, attributes }, ROOT_CONTEXT);
  return context.with(trace.setSpan(ROOT_CONTEXT, span), () => inSpan(span, call));
}
