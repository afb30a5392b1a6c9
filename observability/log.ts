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
