import type { Json } from "./spec.ts";

/**
 * What text Taskstream stores. Every string the write side accepts must be storable by every reader
 * of the log — PostgreSQL's jsonb and text refuse U+0000, and no UTF-8 store can hold a lone UTF-16
 * surrogate — so these rules are checked at the edge, before anything is appended
 * (docs/input-rules.md).
 *
 * - Identifier-like strings (task types, keys, labels, metadata, names) hold no control character:
 *   C0 (U+0000–U+001F), DEL (U+007F), C1 (U+0080–U+009F), and no lone surrogate.
 * - JSON values (payloads, results, progress details) may hold any character but U+0000 and lone
 *   surrogates, in keys and in strings, and nest at most MAX_JSON_DEPTH deep.
 */
export const MAX_JSON_DEPTH = 64;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `text` is not a valid identifier-like string, or null when it is. */
export function identifierProblem(text: string): string | null {
  const control = CONTROL.exec(text);
  if (control) return `must not contain control characters (found ${codePoint(control[0])})`;
  if (!text.isWellFormed()) return "must not contain a lone UTF-16 surrogate";
  return null;
}

/** Why a string inside JSON cannot be stored, or null when it can. */
export function jsonTextProblem(text: string): string | null {
  if (text.includes("\u0000")) return "must not contain U+0000 (NUL); encode binary data, e.g. as base64";
  if (!text.isWellFormed()) return "must not contain a lone UTF-16 surrogate";
  return null;
}

/** A problem found in a JSON value: its path below the value's root (`.a[2].b`) and the reason. */
export interface JsonProblem {
  path: string;
  reason: string;
}

/**
 * The first reason `value` cannot be stored as JSON, or null. Iterative, so no nesting depth can
 * overflow the stack: deeper than `maxDepth` is itself the problem.
 */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): JsonProblem | null {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: "", depth: 0 }];
  while (stack.length > 0) {
    const { value: current, path, depth } = stack.pop()!;
    if (typeof current === "string") {
      const reason = jsonTextProblem(current);
      if (reason) return { path, reason };
      continue;
    }
    if (typeof current === "number") {
      if (!Number.isFinite(current)) return { path, reason: "must be a finite number" };
      continue;
    }
    if (current === null || typeof current === "boolean") continue;
    if (typeof current !== "object") return { path, reason: `is not a JSON value (${typeof current})` };
    if (depth >= maxDepth) return { path: shortPath(path), reason: `nests deeper than ${maxDepth} levels` };
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--)
        stack.push({ value: current[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    const entries = Object.entries(current as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      const keyReason = jsonTextProblem(key);
      if (keyReason) return { path: `${path}${memberPath(key)}`, reason: `has a key that ${keyReason}` };
      stack.push({ value: child, path: `${path}${memberPath(key)}`, depth: depth + 1 });
    }
  }
  return null;
}

/** Whether `value` is storable JSON (see jsonProblem). */
export function isStorableJson(value: unknown): value is Json {
  return jsonProblem(value) === null;
}

/** Free text from a worker (an error message): unstorable characters replaced, length bounded. */
export function storableText(text: string, maxLength: number): string {
  const clean = text.replaceAll("\u0000", "\ufffd").toWellFormed();
  return clean.length > maxLength ? `${clean.slice(0, maxLength)}…` : clean;
}

/** A key as a path segment: `.name` when it reads as an identifier, else `["…"]` (JSON-escaped). */
export function memberPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function shortPath(path: string): string {
  return path.length > 80 ? `${path.slice(0, 80)}…` : path;
}

function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}
