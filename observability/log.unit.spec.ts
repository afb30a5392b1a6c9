import { Writable } from "node:stream";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type LogOptions } from "./log.ts";

/** A logger writing into an array of lines. */
function capture(options: Omit<LogOptions, "destination">) {
  const lines: string[] = [];
  let pending = "";
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString();
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
      done();
    },
  });
  return { log: createLogger({ ...options, destination, colors: false }), lines };
}

describe("the server log", () => {
  it("writes JSON lines with the level's name, an ISO time, the component and the fields", () => {
    const { log, lines } = capture({ level: "info", format: "json" });
    log.child({ component: "dispatcher" }).info({ epoch: 5 }, "dispatcher leading");
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: "info",
      component: "dispatcher",
      epoch: 5,
      msg: "dispatcher leading",
    });
    expect(new Date(String(line.time)).toISOString()).toBe(line.time);
    expect(line).not.toHaveProperty("trace_id");
  });

  it("leaves out what is below its level", () => {
    const { log, lines } = capture({ level: "warn", format: "json" });
    log.info({}, "routine");
    log.debug({}, "detail");
    log.warn({}, "attention");
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["attention"]);
  });

  it("writes one readable line per event in the pretty format, an error included", () => {
    const { log, lines } = capture({ level: "info", format: "pretty" });
    const dispatcher = log.child({ component: "dispatcher" });
    dispatcher.info({ epoch: 5, reason: "lease lost" }, "dispatcher leading");
    dispatcher.warn({ err: new Error("boom"), taskId: "t1" }, "dispatcher write failed");
    log.info({ nested: { a: 1 } }, "no component");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: dispatcher {2}dispatcher leading {2}epoch=5 reason="lease lost"$/,
    );
    expect(lines[1]).toMatch(/WARN: dispatcher {2}dispatcher write failed {2}taskId=t1 err=Error: boom$/);
    expect(lines[2]).toMatch(/INFO: no component {2}nested=\{"a":1\}$/);
  });

  it("adds the error's stack under its line at the debug level", () => {
    const { log, lines } = capture({ level: "debug", format: "pretty" });
    log.error({ err: new Error("boom") }, "failed");
    expect(lines[0]).toMatch(/ERROR: failed {2}err=Error: boom$/);
    expect(lines[1]).toMatch(/^ {4}Error: boom$/);
    expect(lines[2]).toMatch(/^ {8}at /);
  });

  describe("inside a span", () => {
    const provider = new TracerProvider({
      spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
    });
    beforeAll(() => {
      trace.setGlobalTracerProvider(provider);
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    });
    afterAll(async () => {
      trace.disable();
      context.disable();
      await provider.shutdown();
    });

    it("carries the span's trace and span ids on every line, JSON or pretty", async () => {
      const json = capture({ level: "info", format: "json" });
      const pretty = capture({ level: "info", format: "pretty" });
      const span = trace.getTracer("test").startSpan("work");
      await context.with(trace.setSpan(context.active(), span), async () => {
        await Promise.resolve();
        json.log.info({}, "inside");
        pretty.log.info({}, "inside");
      });
      span.end();
      json.log.info({}, "outside");
      const { traceId, spanId } = span.spanContext();
      expect(JSON.parse(json.lines[0]!)).toMatchObject({ trace_id: traceId, span_id: spanId });
      expect(JSON.parse(json.lines[1]!)).not.toHaveProperty("trace_id");
      expect(pretty.lines[0]).toMatch(new RegExp(`inside {2}trace_id=${traceId} span_id=${spanId}$`));
    });
  });
});
