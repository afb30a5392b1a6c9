import { PinoPretty, type MessageFormatFunc } from "pino-pretty";

/** Keys every line has, printed by pino-pretty itself or not at all. */
const OWN_KEYS = new Set(["level", "time", "pid", "hostname", "component", "err", "trace_id", "span_id"]);

/** The colour functions pino-pretty hands a message formatter (identity when colours are off). */
type Colors = Parameters<MessageFormatFunc>[3]["colors"];

/**
 * A pino-pretty stream writing one line per event: `[time] LEVEL: component  message key=value …`,
 * then the error (`err=Type: message`) and the trace ids. Stack traces follow on their own lines
 * only when `stacks` is set (debug and trace levels).
 */
export function prettyStream(options: {
  destination?: NodeJS.WritableStream;
  colors: boolean;
  stacks: boolean;
}): ReturnType<typeof PinoPretty> {
  return PinoPretty({
    destination: options.destination ?? 1,
    sync: true,
    colorize: options.colors,
    hideObject: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname",
    messageFormat: (log, messageKey, _level, { colors }) =>
      eventLine(log, messageKey, options.stacks, colors),
  });
}

/** The part of a line after the level: component, message, fields, error, trace ids. */
export function eventLine(
  log: Record<string, unknown>,
  messageKey: string,
  stacks: boolean,
  colors: Colors,
): string {
  const parts: string[] = [];
  if (typeof log.component === "string") parts.push(colors.cyan(log.component.padEnd(10)));
  parts.push(fieldText(log[messageKey] ?? "", false));
  const fields: string[] = [];
  for (const [key, value] of Object.entries(log)) {
    if (key === messageKey || OWN_KEYS.has(key) || value === undefined) continue;
    fields.push(`${key}=${fieldText(value)}`);
  }
  const err = log.err as { type?: string; message?: string; stack?: string } | undefined;
  if (err) fields.push(colors.red(`err=${err.type ?? "Error"}: ${err.message ?? ""}`));
  if (typeof log.trace_id === "string")
    fields.push(`trace_id=${log.trace_id} span_id=${String(log.span_id)}`);
  if (fields.length > 0) parts.push(colors.gray(fields.join(" ")));
  const line = parts.join("  ");
  return stacks && err?.stack ? `${line}\n${indent(err.stack)}` : line;
}

/** A value as text: a string bare when it has no spaces or quotes (or `quote` is off), else JSON. */
function fieldText(value: unknown, quote = true): string {
  if (typeof value === "string") return !quote || /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return JSON.stringify(value) ?? typeof value;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}
