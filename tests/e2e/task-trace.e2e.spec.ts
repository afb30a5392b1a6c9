import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpanKind, context, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { startTelemetry, stopTelemetry } from "../../observability/telemetry.ts";
import type { RunningServer } from "../../cli/server.ts";
import type * as Support from "../support/server.ts";
import type { TaskContext, TaskstreamClient, Worker } from "../../sdk/typescript/src/index.ts";

/**
 * One task's trace through every hop (docs/tracing.md), recorded in memory over a real stack: the
 * submission's server span (REST and gRPC), the append, the dispatch, the worker SDK's handler, the
 * recorded result, and the batches (the log's script call, the projector's transaction) linking it.
 * OpenTelemetry starts before the server's modules load, as `taskstream serve` starts it.
 */
describe("a task's trace", () => {
  const exporter = new InMemorySpanExporter();
  let server: RunningServer;
  let worker: Worker;
  let client: TaskstreamClient;
  let eventually: typeof Support.eventually;
  const handled = new Map<string, { traceparent: string | null; attempt: number }[]>();
  const PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  const PRODUCER_SPAN = "00f067aa0ba902b7";

  beforeAll(async () => {
    await startTelemetry({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    // Vitest loads packages around Node's module hooks, through which `taskstream serve` has ioredis
    // patched; required here first, it is patched on load, and the server's import reuses it.
    createRequire(import.meta.url)("ioredis");
    const support = await import("../support/server.ts");
    const sdk = await import("../../sdk/typescript/src/index.ts");
    const { migrateUrl } = await import("../../cli/verbs/migrate.ts");
    const { testServices } = await import("../support/services.ts");
    eventually = support.eventually;
    await migrateUrl(testServices.pgUrl);
    server = await support.startTestServer({}, "trace");
    await eventually(() => (server.dispatcher!.leading ? true : undefined), 20_000, "leadership");
    const record = (ctx: TaskContext) =>
      handled.set(ctx.taskId, [
        ...(handled.get(ctx.taskId) ?? []),
        { traceparent: ctx.traceparent, attempt: ctx.attempt },
      ]);
    worker = new sdk.Worker({
      addresses: [server.grpcAddress],
      slots: 4,
      handlers: {
        echo: async (payload, ctx) => {
          record(ctx);
          return payload;
        },
        flaky: async (_payload, ctx) => {
          record(ctx);
          if (ctx.attempt === 1) throw new Error("first attempt fails");
          return "ok";
        },
      },
    });
    await worker.start();
    client = new sdk.TaskstreamClient({ address: server.grpcAddress });
  });

  afterAll(async () => {
    await worker?.stop({ graceMs: 2000 });
    client?.close();
    await server?.close();
    await stopTelemetry();
  });

  const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => traceIdOf(s) === traceId);
  const one = (spans: ReadableSpan[], name: string, where: (s: ReadableSpan) => boolean = () => true) => {
    const found = spans.filter((s) => s.name === name && where(s));
    expect(found, `one ${name}`).toHaveLength(1);
    return found[0]!;
  };
  const events = (s: ReadableSpan) => s.attributes["taskstream.events"];
  const childrenOf = (span: ReadableSpan) =>
    spansOf(traceIdOf(span)).filter((s) => parentOf(s) === idOf(span));
  /** The one span named `name` that links to `target`. */
  const linking = (name: string, target: ReadableSpan) =>
    one(exporter.getFinishedSpans(), name, (s) =>
      s.links.some((link) => link.context.spanId === idOf(target)),
    );

  /** The projector's transactions that link the trace. */
  const projectsLinking = (traceId: string) =>
    exporter
      .getFinishedSpans()
      .filter((s) => s.name === "taskstream.project" && s.links.some((l) => l.context.traceId === traceId));

  /** Waits until the task's result is recorded and projected; returns the spans of its trace. */
  async function finishedTrace(taskId: string, traceId: string): Promise<ReadableSpan[]> {
    await eventually(
      async () => {
        const query = "select state from tasks where id = $1";
        const { rows } = await server.pool.query<{ state: string }>(query, [taskId]);
        const recorded = spansOf(traceId).some(
          (s) =>
            s.name === "taskstream.record_result" && s.attributes["taskstream.task.state"] === "SUCCEEDED",
        );
        const projected = rows[0]?.state === "SUCCEEDED" && projectsLinking(traceId).length > 0;
        return recorded && projected ? true : undefined;
      },
      20_000,
      `task ${taskId} recorded and projected`,
    );
    return spansOf(traceId);
  }

  it("runs from the REST submission through the append, the dispatch and the handler to the result and the projection", async () => {
    const reply = await fetch(`${server.httpUrl}/v1/tasks`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        traceparent: `00-${PRODUCER_TRACE}-${PRODUCER_SPAN}-01`,
      },
      body: JSON.stringify({ type: "echo", payload: { hello: "trace" } }),
    });
    expect(reply.status).toBe(201);
    const { id } = (await reply.json()) as { id: string };
    const spans = await finishedTrace(id, PRODUCER_TRACE);

    // The HTTP server span continues the producer's trace, named by its route.
    const request = one(spans, "POST /v1/tasks");
    expect(request.kind).toBe(SpanKind.SERVER);
    expect(parentOf(request)).toBe(PRODUCER_SPAN);
    expect(request.attributes["http.route"]).toBe("/v1/tasks");
    // Fastify's request span (its instrumentation) is the server span's child, the submission its.
    const route = one(spans, "request");
    expect(parentOf(route)).toBe(idOf(request));
    expect(route.attributes).toMatchObject({ "http.route": "/v1/tasks", "http.response.status_code": 201 });
    const submit = one(spans, "taskstream.submit");
    expect(parentOf(submit)).toBe(idOf(route));
    expect(submit.attributes["taskstream.task.id"]).toBe(id);
    const appended = one(spans, "taskstream.append", (s) => events(s) === "TaskSubmitted");
    expect(parentOf(appended)).toBe(idOf(submit));
    expect(appended.attributes).toMatchObject({
      "taskstream.task.id": id,
      "taskstream.append.outcome": "appended",
    });

    // The dispatcher continues the context stored with the task; the handler is the dispatch's child.
    const dispatch = one(spans, "taskstream.dispatch");
    expect(dispatch.kind).toBe(SpanKind.PRODUCER);
    expect(parentOf(dispatch)).toBe(idOf(submit));
    expect(dispatch.attributes).toMatchObject({ "taskstream.task.id": id, "taskstream.task.attempt": 1 });
    expect(parentOf(one(spans, "taskstream.append", (s) => events(s) === "TaskAssigned"))).toBe(
      idOf(dispatch),
    );
    const handler = one(spans, "task echo");
    expect(handler.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(handler)).toBe(idOf(dispatch));
    expect(handler.attributes).toMatchObject({ "taskstream.task.id": id, "taskstream.task.attempt": 1 });
    expect(handled.get(id)).toEqual([
      { traceparent: `00-${PRODUCER_TRACE}-${idOf(handler)}-01`, attempt: 1 },
    ]);

    // The result is recorded under the attempt's dispatch span, its append under the record.
    const result = one(spans, "taskstream.record_result");
    expect(parentOf(result)).toBe(idOf(dispatch));
    expect(result.attributes).toMatchObject({
      "taskstream.report": "completed",
      "taskstream.report.accepted": true,
      "taskstream.task.state": "SUCCEEDED",
    });
    const resultAppend = one(spans, "taskstream.append", (s) => String(events(s)).includes("TaskSucceeded"));
    expect(parentOf(resultAppend)).toBe(idOf(result));

    // Batches serve many tasks: they start traces of their own and link the tasks they serve.
    for (const append of [appended, resultAppend]) {
      const batch = linking("taskstream.append_batch", append);
      expect(batch.parentSpanContext).toBeUndefined();
      // The Redis script call (ioredis instrumentation) is the batch's child.
      expect(childrenOf(batch).some((s) => s.kind === SpanKind.CLIENT && /^evalsha$/i.test(s.name))).toBe(
        true,
      );
    }
    // The projector's transactions link the trace stored with the task; their statements (pg
    // instrumentation) are their children.
    for (const project of projectsLinking(PRODUCER_TRACE)) {
      expect(project.parentSpanContext).toBeUndefined();
      expect(project.links.find((l) => l.context.traceId === PRODUCER_TRACE)?.context.spanId).toBe(
        idOf(submit),
      );
      expect(childrenOf(project).some((s) => s.kind === SpanKind.CLIENT && s.name.startsWith("pg."))).toBe(
        true,
      );
    }
  });

  it("runs from a gRPC submission, one dispatch and handler span per attempt", async () => {
    const producer = trace.getTracer("producer").startSpan("producer");
    const { id } = await context.with(trace.setSpan(context.active(), producer), () =>
      client.submit({ type: "flaky", retry: { maxAttempts: 3, initialBackoffMs: 10 } }),
    );
    producer.end();
    const traceId = producer.spanContext().traceId;
    const spans = await finishedTrace(id, traceId);

    // The gRPC client span (the SDK's call) and the server span continue the producer's trace.
    const call = one(spans, "grpc.taskstream.v1.TaskService/SubmitTask", (s) => s.kind === SpanKind.CLIENT);
    expect(parentOf(call)).toBe(producer.spanContext().spanId);
    const request = one(
      spans,
      "grpc.taskstream.v1.TaskService/SubmitTask",
      (s) => s.kind === SpanKind.SERVER,
    );
    expect(parentOf(request)).toBe(idOf(call));
    const submit = one(spans, "taskstream.submit");
    expect(parentOf(submit)).toBe(idOf(request));

    const dispatches = spans.filter((s) => s.name === "taskstream.dispatch");
    expect(dispatches.map((s) => s.attributes["taskstream.task.attempt"]).sort()).toEqual([1, 2]);
    for (const dispatch of dispatches) {
      expect(parentOf(dispatch)).toBe(idOf(submit));
      const attempt = dispatch.attributes["taskstream.task.attempt"];
      const handler = one(spans, "task flaky", (s) => parentOf(s) === idOf(dispatch));
      expect(handler.attributes["taskstream.task.attempt"]).toBe(attempt);
      const result = one(spans, "taskstream.record_result", (s) => parentOf(s) === idOf(dispatch));
      expect(result.attributes).toMatchObject(
        attempt === 1
          ? { "taskstream.report": "failed", "taskstream.task.state": "QUEUED" }
          : { "taskstream.report": "completed", "taskstream.task.state": "SUCCEEDED" },
      );
    }
    expect(one(spans, "task flaky", (s) => s.attributes["taskstream.task.attempt"] === 1).status.code).toBe(
      2,
    );
    expect(handled.get(id)?.map((h) => h.attempt)).toEqual([1, 2]);
  });
});

function traceIdOf(span: ReadableSpan): string {
  return span.spanContext().traceId;
}

function idOf(span: ReadableSpan): string {
  return span.spanContext().spanId;
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
