import { z } from "zod";
import {
  CATCH_UP_POLICIES,
  DEFAULT_CATCH_UP,
  definitionErrors,
  type ScheduleDefinition,
  type ScheduleStatus,
  type TaskTemplate,
} from "../../domain/schedule/index.ts";
import { ValidationError, type FieldError } from "../../domain/task/index.ts";
import { parseOrFail } from "../validation/parse.ts";

/** The body of `POST /v1/schedules` (the gRPC and GraphQL shells map their input to it). */
export const scheduleInputSchema = z
  .object({
    cron: z.string().meta({ description: "five or six fields (seconds first), or @hourly, @daily, …" }),
    timeZone: z.string().optional().meta({ description: "an IANA name; UTC when absent" }),
    catchUp: z.enum(CATCH_UP_POLICIES as [string, ...string[]]).optional(),
    task: z.record(z.string(), z.unknown()).meta({
      description:
        "a submission as POST /v1/tasks takes it, checked by the same rules (fields named `task.…`)",
    }),
  })
  .strict();

/**
 * Checks a schedule definition and fills in its defaults, reporting every bad field at once: the
 * shape here, the cron expression, time zone and per-firing fields by the domain, and the task
 * template by `validateTemplate` (the submission rules, fields prefixed `task.`).
 */
export function parseScheduleInput(
  input: unknown,
  validateTemplate: (template: Record<string, unknown>) => void,
  now: number,
): ScheduleDefinition {
  const parsed = scheduleInputSchema.safeParse(input);
  const errors = parsed.success ? [] : parsed.error.issues.flatMap(fieldErrors);
  const raw = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
  // Judged even when the shape is wrong elsewhere, so that every bad field is named at once; a
  // field of the wrong type is named by the shape check, and the placeholder here adds nothing.
  const definition: ScheduleDefinition = {
    cron: typeof raw.cron === "string" ? raw.cron : "",
    timeZone: typeof raw.timeZone === "string" ? raw.timeZone : "UTC",
    catchUp: CATCH_UP_POLICIES.find((policy) => policy === raw.catchUp) ?? DEFAULT_CATCH_UP,
    task: raw.task as TaskTemplate,
  };
  if (typeof raw.task === "object" && raw.task !== null && !Array.isArray(raw.task)) {
    // The domain reports the per-firing fields; the submission rules judge the rest of the template.
    const { idempotencyKey: _key, runAt: _runAt, ...rest } = raw.task as Record<string, unknown>;
    errors.push(...templateErrors(() => validateTemplate(rest)));
  }
  errors.push(...definitionErrors(definition, now));
  if (errors.length > 0) throw new ValidationError(dedupe(errors));
  return definition;
}

const LIMIT = "must be an integer from 1 to 500";
/** The query of `GET /v1/schedules` (and the GraphQL and gRPC listings). */
export const scheduleListQuerySchema = z.object({
  status: z.enum(["ACTIVE", "PAUSED", "DELETED"], { error: "must be ACTIVE, PAUSED or DELETED" }).optional(),
  limit: z.coerce
    .number({ error: LIMIT })
    .int({ error: LIMIT })
    .min(1, { error: LIMIT })
    .max(500, { error: LIMIT })
    .optional()
    .meta({ description: "100 when absent" }),
  after: z
    .string({ error: "must be a string" })
    .nullish()
    .meta({ description: "the previous page's nextAfter" }),
});

/** Checks the `status`, `limit` and `after` of a listing. */
export function parseListQuery(query: { status?: unknown; limit?: unknown; after?: unknown }): {
  status: ScheduleStatus | null;
  limit: number;
  after: string | null;
} {
  // GraphQL passes null for an absent argument; a query string cannot.
  const { status, limit, after } = parseOrFail(scheduleListQuerySchema, {
    status: query.status ?? undefined,
    limit: query.limit ?? undefined,
    after: query.after ?? undefined,
  });
  return { status: status ?? null, limit: limit ?? 100, after: after ?? null };
}

function templateErrors(validate: () => void): FieldError[] {
  try {
    validate();
    return [];
  } catch (error) {
    if (error instanceof ValidationError) return error.fields;
    throw error; // PayloadTooLargeError keeps its own status (413)
  }
}

/** One error per unknown field, else one naming the issue's path. */
function fieldErrors(issue: z.core.$ZodIssue): FieldError[] {
  const path = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys")
    return issue.keys.map((key) => ({
      field: path ? `${path}.${key}` : key,
      reason: "is not a known field",
    }));
  return [{ field: path || "(body)", reason: issue.message }];
}

/** One error per field, the first found: the domain and the submission rules may both judge `task.type`. */
function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => !seen.has(e.field) && Boolean(seen.add(e.field)));
}
