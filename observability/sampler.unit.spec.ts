import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Link } from "@opentelemetry/api";
import { AlwaysOffSampler, ParentBasedSampler, SamplingDecision } from "@opentelemetry/sdk-trace";
import { describe, expect, it } from "vitest";
import { TaskstreamSampler, samplerFromEnv } from "./sampler.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const link = (flags: TraceFlags): Link => ({
  context: { traceId: TRACE, spanId: "00f067aa0ba902b7", traceFlags: flags },
});
const parent = (flags: TraceFlags) =>
  trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE, spanId: "00f067aa0ba902b7", traceFlags: flags });

describe("the sampler", () => {
  // Everything the configured sampler decides alone is dropped here, so a recorded span is the rules'.
  const sampler = new TaskstreamSampler(new AlwaysOffSampler());
  const decide = (context = ROOT_CONTEXT, kind = SpanKind.INTERNAL, links: Link[] = []) =>
    sampler.shouldSample(context, TRACE, "span", kind, {}, links).decision;

  it("records no client call that starts a trace: background traffic", () => {
    const always = new TaskstreamSampler(samplerFromEnv({}));
    expect(always.shouldSample(ROOT_CONTEXT, TRACE, "evalsha", SpanKind.CLIENT, {}, []).decision).toBe(
      SamplingDecision.NOT_RECORD,
    );
    expect(
      always.shouldSample(parent(TraceFlags.SAMPLED), TRACE, "evalsha", SpanKind.CLIENT, {}, []).decision,
    ).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });

  it("records a batch that starts a trace when it links a sampled one, whatever the configured sampler", () => {
    expect(decide(ROOT_CONTEXT, SpanKind.INTERNAL, [link(TraceFlags.NONE), link(TraceFlags.SAMPLED)])).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(decide(ROOT_CONTEXT, SpanKind.INTERNAL, [link(TraceFlags.NONE)])).toBe(
      SamplingDecision.NOT_RECORD,
    );
    expect(decide(ROOT_CONTEXT)).toBe(SamplingDecision.NOT_RECORD);
  });

  it("leaves every other span to the configured sampler", () => {
    const parentBased = new TaskstreamSampler(
      samplerFromEnv({ OTEL_TRACES_SAMPLER: "parentbased_always_off" }),
    );
    const result = (flags: TraceFlags) =>
      parentBased.shouldSample(parent(flags), TRACE, "span", SpanKind.INTERNAL, {}, []).decision;
    expect(result(TraceFlags.SAMPLED)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(result(TraceFlags.NONE)).toBe(SamplingDecision.NOT_RECORD);
  });

  it("is configured by OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, with a clear error for a bad one", () => {
    expect(samplerFromEnv({})).toBeInstanceOf(ParentBasedSampler);
    expect(
      samplerFromEnv({
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.1",
      }).toString(),
    ).toMatch(/ParentBased.*TraceIdRatioBased\{0\.1\}/);
    expect(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: "sometimes" })).toThrow(
      /OTEL_TRACES_SAMPLER: must be one of .*; got "sometimes"/,
    );
    expect(() =>
      samplerFromEnv({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" }),
    ).toThrow(/OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1; got "2"/);
  });
});
