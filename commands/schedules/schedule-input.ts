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

/** The body of `POST /v1/schedules` (the gRPC and GraphQL shells map their input to it). */
const scheduleInputSchema = z
  .object({
    cron: z.string(),
    /** IANA name; UTC when absent. */
    timeZone: z.string().optional(),
    catchUp: z.enum(CATCH_UP_POLICIES as [string, ...string[]]).optional(),
    /** A task submission as producers POST it to /v1/tasks, checked by the submission rules. */
    task: z.record(z.string(), z.unknown()),
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

/** Checks the `status`, `limit` and `after` of a listing. */
export function parseListQuery(query: { status?: unknown; limit?: unknown; after?: unknown }): {
  status: ScheduleStatus | null;
  limit: number;
  after: string | null;
} {
  const errors: FieldError[] = [];
  const status = query.status ?? null;
  if (status !== null && status !== "ACTIVE" && status !== "PAUSED" && status !== "DELETED")
    errors.push({ field: "status", reason: "must be ACTIVE, PAUSED or DELETED" });
  const limit = query.limit === undefined || query.limit === null ? 100 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    errors.push({ field: "limit", reason: "must be an integer from 1 to 500" });
  const after = query.after ?? null;
  if (after !== null && typeof after !== "string")
    errors.push({ field: "after", reason: "must be a string" });
  if (errors.length > 0) throw new ValidationError(errors);
  return { status: status as ScheduleStatus | null, limit, after: after as string | null };
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
