/** Parses the JSON text of a payload, result or details; empty text means `empty` (the proto's "absent"). */
export function parseJson(text: string, empty: unknown = null): unknown {
  if (text === "") return empty;
  return JSON.parse(text) as unknown;
}

/** Serializes a value for a `*_json` field; undefined becomes null so the text is always valid JSON. */
export function toJson(value: unknown): string {
  const text = JSON.stringify(value ?? null) as string | undefined;
  // JSON.stringify answers undefined for functions and symbols; those are not JSON values.
  if (text === undefined) throw new TypeError(`${typeof value} is not a JSON value`);
  return text;
}
