import { SpanKind, TraceFlags, isSpanContextValid, trace, type Context, type Link } from "@opentelemetry/api";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from "@opentelemetry/sdk-trace";
import { ValidationError } from "../domain/task/index.ts";

/**
 * The sampler Taskstream runs with: the one OTEL_TRACES_SAMPLER names (parent-based always-on by
 * default), with two rules before it for spans that start a trace:
 * - a client call made on behalf of nothing (a lease keepalive, a poll, a periodic query) is not
 *   recorded: background traffic would bury the traces of tasks;
 * - a span linking sampled traces (a batch serving sampled tasks) is recorded, whatever the ratio,
 *   so a sampled task's trace never loses the batch that wrote or projected it.
 */
export class TaskstreamSampler implements Sampler {
  private readonly configured: Sampler;

  constructor(configured: Sampler) {
    this.configured = configured;
  }

  shouldSample(
    parentContext: Context,
    traceId: string,
    name: string,
    kind: SpanKind,
    attributes: Parameters<Sampler["shouldSample"]>[4],
    links: Link[],
  ): SamplingResult {
    const parent = trace.getSpanContext(parentContext);
    if (parent === undefined || !isSpanContextValid(parent)) {
      if (kind === SpanKind.CLIENT) return { decision: SamplingDecision.NOT_RECORD };
      if (links.some((link) => (link.context.traceFlags & TraceFlags.SAMPLED) !== 0))
        return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    }
    return this.configured.shouldSample(parentContext, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `TaskstreamSampler{${this.configured.toString()}}`;
  }
}

/**
 * The sampler the standard variables name (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG for the
 * ratio); parent-based always-on when unset. Throws on a name it does not know.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv = process.env): Sampler {
  const name = env.OTEL_TRACES_SAMPLER?.trim() || "parentbased_always_on";
  const ratio = () => {
    const value = Number(env.OTEL_TRACES_SAMPLER_ARG ?? "1");
    if (Number.isFinite(value) && value >= 0 && value <= 1) return value;
    throw new ValidationError([
      {
        field: "OTEL_TRACES_SAMPLER_ARG",
        reason: `must be a number from 0 to 1; got "${env.OTEL_TRACES_SAMPLER_ARG}"`,
      },
    ]);
  };
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio());
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      throw new ValidationError([
        { field: "OTEL_TRACES_SAMPLER", reason: `must be one of ${SAMPLERS}; got "${name}"` },
      ]);
  }
}

const SAMPLERS =
  "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio";
