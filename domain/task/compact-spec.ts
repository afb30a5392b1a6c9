import type { TaskEvent } from "./events.ts";
import type { RetryPolicy, TaskSpec, Timeouts } from "./spec.ts";

/**
 * How a submission's spec is stored: fields equal to their defaults are left out, so the common
 * task ("type and payload") costs a few dozen bytes of log instead of a few hundred. The defaults
 * here are the STORED FORMAT's, frozen: if the live defaults (spec.ts) ever change, events written
 * earlier must still expand to what they meant, so these constants never change — a new format
 * would get new ones and a marker.
 */
const STORED_DEFAULTS = {
  // Events written before namespaces existed have none: they are in `default`.
  namespace: "default",
  payload: null,
  priority: 5,
  idempotencyKey: null,
  runAt: null,
  concurrency: null,
  traceparent: null,
  tracestate: null,
} as const;
const STORED_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialBackoffMs: 1_000,
  backoffMultiplier: 2,
  maxBackoffMs: 60_000,
};
const STORED_TIMEOUTS: Timeouts = { scheduleToStartMs: null, startToCloseMs: 300_000, heartbeatMs: null };

/** A spec as stored: `type` and whatever differs from the stored defaults. */
export type CompactSpec = { type: string } & Partial<Omit<TaskSpec, "retry" | "timeouts">> & {
    retry?: Partial<RetryPolicy>;
    timeouts?: Partial<Timeouts>;
  };

/** The spec without the fields that equal the stored defaults. */
export function compactSpec(spec: TaskSpec): CompactSpec {
  const out: Record<string, unknown> = { type: spec.type };
  for (const [field, fallback] of Object.entries(STORED_DEFAULTS)) {
    const value = spec[field as keyof typeof STORED_DEFAULTS];
    if (value !== fallback) out[field] = value;
  }
  if (Object.keys(spec.requires).length > 0) out.requires = spec.requires;
  if (Object.keys(spec.metadata).length > 0) out.metadata = spec.metadata;
  const retry = differing(spec.retry, STORED_RETRY);
  if (retry) out.retry = retry;
  const timeouts = differing(spec.timeouts, STORED_TIMEOUTS);
  if (timeouts) out.timeouts = timeouts;
  return out as CompactSpec;
}

/** The whole spec a stored one stands for (already whole specs pass through unchanged). */
export function expandSpec(stored: CompactSpec): TaskSpec {
  return {
    ...STORED_DEFAULTS,
    ...stored,
    namespace: stored.namespace ?? STORED_DEFAULTS.namespace,
    requires: stored.requires ?? {},
    metadata: stored.metadata ?? {},
    retry: { ...STORED_RETRY, ...stored.retry },
    timeouts: { ...STORED_TIMEOUTS, ...stored.timeouts },
  };
}

/** An event as the log stores it: a submission's spec compacted, every other event as it is. */
export function storedEventData(event: TaskEvent): unknown {
  if (event.type !== "TaskSubmitted") return event.data;
  return { ...event.data, spec: compactSpec(event.data.spec) };
}

/** An event as read back from the log, its submission's spec made whole again. */
export function eventFromStored<T extends { type: string; data: unknown }>(event: T): T {
  if (event.type !== "TaskSubmitted") return event;
  const data = event.data as { spec: CompactSpec };
  return { ...event, data: { ...data, spec: expandSpec(data.spec) } };
}

function differing<T extends object>(value: T, defaults: T): Partial<T> | null {
  const out: Partial<T> = {};
  let any = false;
  for (const key of Object.keys(defaults) as (keyof T)[]) {
    if (value[key] !== defaults[key]) {
      out[key] = value[key];
      any = true;
    }
  }
  return any ? out : null;
}
