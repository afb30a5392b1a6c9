import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import { pino, stdSerializers, stdTimeFunctions, type Logger as Pino } from "pino";
import { prettyStream } from "./pretty-log.ts";

/**
 * The server's structured log, in pino's shape as Fastify provides it: fields first, then the
 * message (`log.warn({ err, taskId }, "dispatcher write failed")`). Every server module logs through
 * this one type. (The worker SDKs, separate packages, take a logger of their own.)
 */
export interface Logger {
  /** Optional: the quiet details (a partition's term starting, a link retrying). */
  debug?(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** The levels `--log-level` accepts, most severe first; `silent` logs nothing. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `pretty`: one human-readable line per event (`taskstream dev`); `json`: one JSON object per line (`serve`). */
export const LOG_FORMATS = ["pretty", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go (default: standard output). */
  destination?: NodeJS.WritableStream;
  /** Colours in pretty lines (default: when the destination is a terminal). */
  colors?: boolean;
}

/**
 * The process's root logger: pino, JSON or pretty. Every line written inside an active
 * OpenTelemetry span carries its `trace_id` and `span_id`, so a log line leads to its trace.
 * Components log through children: `root.child({ component: "dispatcher" })`.
 */
export function createLogger(options: LogOptions): Pino {
  const common = { level: options.level, mixin: traceFields, serializers: { err: stdSerializers.err } };
  if (options.format === "json")
    return pino(
      {
        ...common,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label: string) => ({ level: label }) },
      },
      options.destination ?? process.stdout,
    );
  const colors = options.colors ?? (options.destination === undefined && process.stdout.isTTY);
  // Stack traces only when debugging: otherwise an error is one line like every other event.
  const stacks = options.level === "debug" || options.level === "trace";
  return pino(
    { ...common, base: undefined },
    prettyStream({ destination: options.destination, colors, stacks }),
  );
}

/** The active span's ids, for the log line being written (none outside a span). */
function traceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const ids = span.spanContext();
  return isSpanContextValid(ids) ? { trace_id: ids.traceId, span_id: ids.spanId } : {};
}

/** Whether `value` is a level `--log-level` accepts. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}
