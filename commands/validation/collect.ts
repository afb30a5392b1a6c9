import { ValidationError, type FieldError } from "../../domain/task/index.ts";

/** Maps every item, gathering the field errors of all items into one ValidationError instead of stopping at the first. */
export function mapAllOrFail<T, R>(items: readonly T[], map: (item: T, index: number) => R): R[] {
  const fields: FieldError[] = [];
  const results: R[] = [];
  items.forEach((item, index) => {
    try {
      results.push(map(item, index));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      fields.push(...error.fields);
    }
  });
  if (fields.length > 0) throw new ValidationError(fields);
  return results;
}
