import { ROOT_CONTEXT, SpanKind, TraceFlags, type Link, type Span } from "@opentelemetry/api";
import { isTerminalEvent } from "../domain/task/index.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { storedTraceLink, tracer, tracingOn } from "../observability/tracing.ts";

/**
 * The trace each task belongs to, learnt from the TaskSubmitted events the projector folds (the
 * trace context stored with the task), forgotten when the task finishes; bounded, oldest first out.
 * A task submitted before this process started is not known, and its batches do not link it.
 */
export class TaskTraces {
  private readonly links = new Map<string, Link | null>();
  private readonly capacity: number;

  constructor(capacity = 100_000) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.links.size;
  }

  /** Links to the traces of the batch's tasks, sampled ones first (a span keeps only so many links). */
  linksFor(events: readonly StoredEvent[]): Link[] {
    const sampled: Link[] = [];
    const others: Link[] = [];
    const seen = new Set<string>();
    for (const event of events) {
      if (event.type === "TaskSubmitted") this.learn(event.taskId, event.data.spec);
      const link = this.links.get(event.taskId);
      if (link && !seen.has(event.taskId)) {
        seen.add(event.taskId);
        ((link.context.traceFlags & TraceFlags.SAMPLED) !== 0 ? sampled : others).push(link);
      }
      if (isTerminalEvent(event)) this.links.delete(event.taskId);
    }
    return sampled.concat(others);
  }

  private learn(taskId: string, spec: { traceparent: string | null; tracestate: string | null }): void {
    const link = storedTraceLink(spec.traceparent, spec.tracestate);
    if (!link) return;
    this.links.set(taskId, link);
    if (this.links.size > this.capacity) this.links.delete(this.links.keys().next().value!);
  }
}

/**
 * Starts `taskstream.project`, the span of one projector transaction, linking the traces of the
 * tasks it folds; undefined when tracing is off or no task of the batch is traced.
 */
export function startProjectSpan(events: readonly StoredEvent[], traces: TaskTraces): Span | undefined {
  if (!tracingOn()) return undefined;
  const links = traces.linksFor(events);
  if (links.length === 0) return undefined;
  const attributes = {
    "taskstream.batch.events": events.length,
    "taskstream.batch.tasks": new Set(events.map((event) => event.taskId)).size,
  };
  return tracer.startSpan(
    "taskstream.project",
    { kind: SpanKind.INTERNAL, root: true, links, attributes },
    ROOT_CONTEXT,
  );
}
