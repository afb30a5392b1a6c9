import { ROOT_CONTEXT, context, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { traceHeaders, withTaskSpan } from "../src/tracing.ts";
import { fakeDispatcher, worker } from "./harness.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;
const info = { type: "echo", taskId: "t1", attempt: 1, traceparent: PARENT, tracestate: "vendor=x" };

describe("trace context", () => {
  it("hands the submission's traceparent through when no tracer provider is registered", async () => {
    expect(await withTaskSpan(info, (traceparent) => Promise.resolve(traceparent))).toBe(PARENT);
    expect(
      await withTaskSpan({ ...info, traceparent: "garbage" }, (traceparent) => Promise.resolve(traceparent)),
    ).toBeNull();
    expect(traceHeaders(ROOT_CONTEXT)).toEqual({});
  });

  describe("with a tracer provider", () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    beforeAll(() => {
      trace.setGlobalTracerProvider(provider);
      // Without a context manager `context.with` keeps nothing active (as in an app without the SDK).
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    });
    afterAll(async () => {
      trace.disable();
      context.disable();
      await provider.shutdown();
    });

    it("runs the handler in a span 'task <type>' that is a child of the submission", async () => {
      const fake = await fakeDispatcher();
      const seen: (string | null)[] = [];
      const w = worker({
        addresses: [fake.address],
        handlers: {
          echo: (_p, ctx) => Promise.resolve(void seen.push(ctx.traceparent)),
          boom: () => Promise.reject(new Error("boom")),
        },
      });
      await w.start();
      const stream = await fake.stream();
      stream.assign({ taskId: "t1", type: "echo", traceparent: PARENT, tracestate: "vendor=x" });
      await stream.next("completed");
      stream.assign({ taskId: "t2", type: "boom", traceparent: PARENT });
      await stream.next("failed");

      const [ok, failed] = exporter.getFinishedSpans();
      expect(ok?.name).toBe("task echo");
      expect(ok?.parentSpanContext?.spanId).toBe("b7ad6b7169203331");
      expect(ok?.spanContext().traceId).toBe(TRACE_ID);
      expect(ok?.spanContext().traceState?.get("vendor")).toBe("x");
      expect(ok?.attributes).toMatchObject({ "taskstream.task.id": "t1", "taskstream.task.attempt": 1 });
      expect(seen[0]).toBe(`00-${TRACE_ID}-${ok?.spanContext().spanId}-01`);
      expect(failed?.name).toBe("task boom");
      expect(failed?.status.code).toBe(2);
    });

    it("exposes the active context as W3C headers for outgoing calls", () => {
      const span = trace.getTracer("test").startSpan("outer");
      const headers = context.with(trace.setSpan(ROOT_CONTEXT, span), () => traceHeaders());
      span.end();
      expect(headers.traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
    });
  });
});
