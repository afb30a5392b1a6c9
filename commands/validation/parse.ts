import type { z } from "zod";
import { ValidationError } from "../../domain/task/index.ts";

/**
 * Parses `input` with a request schema, or throws a ValidationError naming every bad field (its dotted
 * path, or `(body)`). The same schemas are published in the OpenAPI document (docs/apis.md).
 */
export function parseOrFail<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new ValidationError(
    parsed.error.issues.map((issue) => ({
      field: issue.path.map(String).join(".") || "(body)",
      reason: issue.message,
    })),
  );
}
