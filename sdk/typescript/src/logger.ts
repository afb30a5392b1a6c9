import type { Logger } from "./types.ts";

const quiet = (): void => {};

/** The logger used when none is given: silent for debug and info, `console` for the rest. */
export const defaultLogger: Logger = {
  debug: quiet,
  info: quiet,
  warn: (message, fields) => console.warn(`taskstream: ${message}`, fields ?? ""),
  error: (message, fields) => console.error(`taskstream: ${message}`, fields ?? ""),
};
