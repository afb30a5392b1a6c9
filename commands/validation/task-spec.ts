import { z } from "zod";
import type { TraceContext } from "../../observability/trace-context.ts";
import {
  identifierProblem,
  jsonProblem,
  memberPath,
  DEFAULT_NAMESPACE,
  DEFAULT_PRIORITY,
  DEFAULT_RETRY,
  DEFAULT_TIMEOUTS,
  MAX_PRIORITY,
  MIN_PRIORITY,
  PayloadTooLargeError,
  ValidationError,
  type FieldError,
  type Json,
  type RetryPolicy,
  type TaskSpec,
} from "../../domain/task/index.ts";

/** A string that names something (a key, a label): bounded, with no control characters. */
const identifier = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .superRefine((text, ctx) => {
      const problem = identifierProblem(text);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    });

/** The submission body as producers write it (REST JSON; the gRPC shell maps its message to it). */
const labels = z
  .record(identifier(1, 128), identifier(0, 256))
  .refine((map) => Object.keys(map).length <= 64, {
    message: "must hold at most 64 entries",
  });
const positiveMs = z
  .number()
  .int()
  .positive()
  .max(366 * 24 * 3600_000);

export const submissionSchema = z
  .object({
    // Checked against the caller's key by the command layer (auth/principal.ts resolveNamespace).
    namespace: z.string().max(63).optional(),
    type: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9_.:\-/]+$/, "must use letters, digits and _ . : - / only"),
    // Checked by jsonProblem before the schema runs (depth, NUL, lone surrogates); any JSON here.
    payload: z.unknown().optional(),
    priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional(),
    requires: labels.optional(),
    idempotencyKey: identifier(1, 256).optional(),
    runAt: z.iso.datetime({ offset: true }).optional(),
    delayMs: positiveMs.optional(),
    concurrencyKey: identifier(1, 256).optional(),
    concurrencyLimit: z.number().int().min(1).max(100_000).optional(),
    retry: z
      .object({
        maxAttempts: z.number().int().min(1).max(1000).optional(),
        initialBackoffMs: z
          .number()
          .int()
          .min(0)
          .max(24 * 3600_000)
          .optional(),
        backoffMultiplier: z.number().min(1).max(100).optional(),
        maxBackoffMs: z
          .number()
          .int()
          .min(0)
          .max(7 * 24 * 3600_000)
          .optional(),
      })
      .strict()
      .optional(),
    timeouts: z
      .object({
        scheduleToStartMs: positiveMs.optional(),
        startToCloseMs: positiveMs.optional(),
        heartbeatMs: positiveMs.optional(),
      })
      .strict()
      .optional(),
    metadata: labels.optional(),
  })
  .strict();

export type Submission = z.input<typeof submissionSchema>;

export interface SubmissionLimits {
  maxPayloadBytes: number;
}

/** What a submission is checked against besides its own fields. */
export interface SubmissionContext {
  now?: number;
  /** The queue's (task type's) retry defaults, under the task's own policy. */
  retryDefaults?: Partial<RetryPolicy> | null;
}

/** How far in the past a runAt may lie (clock skew, queued producers) before it is a mistake. */
export const RUN_AT_PAST_TOLERANCE_MS = 24 * 3600_000;

export type { TraceContext };

/**
 * Validates a submission and fills in the defaults. Every bad field is reported at once, named by
 * its path (`retry.maxAttempts`), prefixed with `pathPrefix` for batches (`tasks[3].`).
 */
export function toTaskSpec(
  input: unknown,
  limits: SubmissionLimits,
  trace: TraceContext,
  pathPrefix = "",
  context: SubmissionContext = {},
): TaskSpec {
  // Before the schema: a deep payload must not reach a recursive walk, and what the log cannot store
  // must be refused here, not discovered by a reader later (domain/task/text-rules.ts).
  const payloadProblem =
    typeof input === "object" && input !== null && "payload" in input ? jsonProblem(input.payload) : null;
  const parsed = submissionSchema.safeParse(input);
  if (!parsed.success || payloadProblem) {
    const fields = parsed.success
      ? []
      : parsed.error.issues.flatMap((issue) => fieldErrors(issue, pathPrefix));
    if (payloadProblem)
      fields.unshift({ field: `${pathPrefix}payload${payloadProblem.path}`, reason: payloadProblem.reason });
    throw new ValidationError(fields);
  }
  const body = parsed.data;
  const payload = (body.payload ?? null) as Json;
  const payloadBytes = Buffer.byteLength(JSON.stringify(payload));
  if (payloadBytes > limits.maxPayloadBytes)
    throw new PayloadTooLargeError(`${pathPrefix}payload`, payloadBytes, limits.maxPayloadBytes);
  const now = context.now ?? Date.now();
  const retry = { ...DEFAULT_RETRY, ...context.retryDefaults, ...body.retry };
  const problems: FieldError[] = [];
  if (retry.maxBackoffMs < retry.initialBackoffMs) {
    problems.push({
      field: `${pathPrefix}retry.maxBackoffMs`,
      reason: "must be at least retry.initialBackoffMs",
    });
  }
  const runAt = body.runAt === undefined ? null : Date.parse(body.runAt);
  if (runAt !== null && runAt < now - RUN_AT_PAST_TOLERANCE_MS) {
    problems.push({ field: `${pathPrefix}runAt`, reason: "lies more than 24 hours in the past" });
  }
  if (runAt !== null && runAt > now + 366 * 24 * 3600_000) {
    problems.push({ field: `${pathPrefix}runAt`, reason: "lies more than a year ahead" });
  }
  if (runAt !== null && body.delayMs !== undefined) {
    problems.push({ field: `${pathPrefix}delayMs`, reason: "cannot be combined with runAt" });
  }
  if (body.concurrencyLimit !== undefined && body.concurrencyKey === undefined) {
    problems.push({ field: `${pathPrefix}concurrencyLimit`, reason: "needs a concurrencyKey" });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return {
    namespace: body.namespace ?? DEFAULT_NAMESPACE,
    type: body.type,
    payload,
    priority: body.priority ?? DEFAULT_PRIORITY,
    requires: body.requires ?? {},
    idempotencyKey: body.idempotencyKey ?? null,
    runAt: runAt ?? (body.delayMs === undefined ? null : now + body.delayMs),
    retry,
    timeouts: { ...DEFAULT_TIMEOUTS, ...body.timeouts },
    metadata: body.metadata ?? {},
    concurrency:
      body.concurrencyKey === undefined
        ? null
        : { key: body.concurrencyKey, limit: body.concurrencyLimit ?? 1 },
    traceparent: trace.traceparent,
    tracestate: trace.tracestate,
  };
}

/** The field errors of one schema issue: one per unknown field, else one naming the issue's path. */
function fieldErrors(issue: z.core.$ZodIssue, pathPrefix: string): FieldError[] {
  const path = issue.path
    .map((part) => (typeof part === "number" ? `[${part}]` : memberPath(String(part))))
    .join("")
    .replace(/^\./, "");
  if (issue.code === "unrecognized_keys") {
    const base = path ? `${pathPrefix}${path}.` : pathPrefix;
    return issue.keys.map((key) => ({ field: `${base}${key}`, reason: "is not a known field" }));
  }
  // A record key's issue: zod puts the key at the end of the path; say it is the key, and why.
  const reason =
    issue.code === "invalid_key"
      ? `has a key that ${issue.issues[0]?.message ?? "is invalid"}`
      : issue.message;
  return [{ field: `${pathPrefix}${path || "(body)"}`, reason }];
}
