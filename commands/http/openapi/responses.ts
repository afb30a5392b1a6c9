import { z } from "zod";

/**
 * The shapes of the REST API's answers, for the OpenAPI document; `openapi.int.spec.ts` parses real
 * answers with them (strictly), so the document cannot drift from what the routes send.
 */
const json = z.unknown().meta({ description: "any JSON value" });
const stringMap = z.record(z.string(), z.string());
const time = z.iso.datetime();

export const errorBody = z
  .object({
    error: z
      .object({
        code: z.string().meta({ description: "VALIDATION, NOT_FOUND, ILLEGAL_STATE, RESOURCE_EXHAUSTED, …" }),
        message: z.string(),
        fields: z
          .array(z.object({ field: z.string(), reason: z.string() }).strict())
          .optional()
          .meta({ description: "every bad field, named by its path (`retry.maxAttempts`, `tasks[3].type`)" }),
      })
      .strict(),
  })
  .strict()
  .meta({ title: "Error" });

export const submitResult = z
  .object({
    id: z.string(),
    deduplicated: z.boolean(),
    conflict: z
      .boolean()
      .optional()
      .meta({ description: "in a batch: the key was first used with other fields" }),
  })
  .strict();

export const batchResult = z.object({ results: z.array(submitResult) }).strict();

export const task = z
  .object({
    id: z.string(),
    namespace: z.string().meta({ description: "the tenant the task belongs to (docs/security.md)" }),
    type: z.string(),
    state: z.enum(["QUEUED", "ASSIGNED", "RUNNING", "SUCCEEDED", "DEAD_LETTERED", "CANCELLED"]),
    priority: z.number().int(),
    attempt: z.number().int(),
    maxAttempts: z.number().int(),
    payload: json,
    result: json,
    lastError: z
      .object({ message: z.string(), type: z.string(), nonRetryable: z.boolean() })
      .strict()
      .nullable(),
    idempotencyKey: z.string().nullable(),
    requires: stringMap,
    metadata: stringMap,
    workerId: z.string().nullable(),
    cancelRequested: z.boolean(),
    createdAt: time,
    updatedAt: time,
    availableAt: time.nullable(),
    version: z.number().int(),
  })
  .strict()
  .meta({ title: "Task" });

export const history = z
  .object({
    events: z.array(
      z.object({ version: z.number().int(), type: z.string(), data: json, streamId: z.string() }).strict(),
    ),
  })
  .strict();

export const queueSettings = z
  .object({
    type: z.string(),
    ratePerSecond: z.number(),
    burst: z.number().int(),
    maxBacklog: z.number().int(),
    retry: z.record(z.string(), z.number()).nullable(),
  })
  .strict()
  .meta({ title: "QueueSettings" });

export const concurrencyLimit = z.object({ key: z.string(), maxRunning: z.number().int() }).strict();

export const queueListing = z
  .object({ queues: z.array(queueSettings), concurrencyLimits: z.array(concurrencyLimit) })
  .strict();

export const schedule = z
  .object({
    id: z.string(),
    status: z.enum(["ACTIVE", "PAUSED", "DELETED"]),
    cron: z.string(),
    timeZone: z.string(),
    catchUp: z.string(),
    task: z.record(z.string(), json).meta({ description: "the submission each firing makes" }),
    createdAt: time,
    updatedAt: time,
    lastFiredAt: time.nullable(),
    lastTaskId: z.string().nullable(),
    nextFireAt: time.nullable(),
    firings: z.number().int(),
    version: z.number().int(),
  })
  .strict()
  .meta({ title: "Schedule" });

export const schedulePage = z
  .object({ schedules: z.array(schedule), nextAfter: z.string().nullable() })
  .strict();

/** The answers every route may give besides its own. */
export const refusals = {
  400: { description: "bad input: every bad field named; nothing written", schema: errorBody },
} as const;
export const notFound = { 404: { description: "no such id", schema: errorBody } } as const;
