import { describe, expect, it } from "vitest";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { TaskTraces } from "./batch-tracing.ts";

const SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const UNSAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

function event(taskId: string, type: string, traceparent: string | null = null): StoredEvent {
  const data = type === "TaskSubmitted" ? { spec: { traceparent, tracestate: null } } : {};
  return { taskId, type, data, version: 1, streamId: "1-0", partition: 0 } as unknown as StoredEvent;
}

describe("the traces a projector batch links", () => {
  it("links each traced task of the batch once, sampled traces first", () => {
    const traces = new TaskTraces();
    const links = traces.linksFor([
      event("a", "TaskSubmitted", UNSAMPLED),
      event("b", "TaskSubmitted", SAMPLED),
      event("b", "TaskAssigned"),
      event("c", "TaskSubmitted", null),
    ]);
    expect(links.map((l) => l.context.spanId)).toEqual(["00f067aa0ba902b7", "b7ad6b7169203331"]);
  });

  it("remembers a task's trace for its later batches until the task finishes", () => {
    const traces = new TaskTraces();
    traces.linksFor([event("a", "TaskSubmitted", SAMPLED)]);
    expect(traces.linksFor([event("a", "TaskAssigned")])).toHaveLength(1);
    expect(traces.linksFor([event("a", "TaskSucceeded")])).toHaveLength(1);
    expect(traces.linksFor([event("a", "TaskResultRejected")])).toHaveLength(0);
    expect(traces.size).toBe(0);
  });

  it("forgets the oldest traces past its capacity", () => {
    const traces = new TaskTraces(2);
    traces.linksFor(["a", "b", "c"].map((id) => event(id, "TaskSubmitted", SAMPLED)));
    expect(traces.size).toBe(2);
    expect(traces.linksFor([event("a", "TaskAssigned")])).toHaveLength(0);
    expect(traces.linksFor([event("c", "TaskAssigned")])).toHaveLength(1);
  });
});
