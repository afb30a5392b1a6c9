import { identifierProblem, type FieldError } from "../domain/task/index.ts";
import type { Register } from "../proto/gen/taskstream/v1/workers.ts";

/** Bounds on what a worker may declare when it registers. */
export interface RegisterLimits {
  /** Most attempts one worker may run at once (TASKSTREAM_MAX_WORKER_SLOTS). */
  maxSlots: number;
}

export const MAX_WORKER_TYPES = 256;
export const MAX_WORKER_LABELS = 64;
const TYPE_PATTERN = /^[A-Za-z0-9_.:\-/]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Every problem with a Register message, each naming its field (`register.slots`); empty when it is
 * valid. Task types follow the submission's rules; names, labels and the SDK string are
 * identifier-like (no control characters) and bounded.
 */
export function registerProblems(register: Register, limits: RegisterLimits): FieldError[] {
  const problems: FieldError[] = [];
  const add = (field: string, reason: string) => problems.push({ field: `register.${field}`, reason });
  const text = (field: string, value: string, max: number, min = 0) => {
    if (value.length < min || value.length > max)
      return add(field, min > 0 ? `must be 1 to ${max} characters` : `must be at most ${max} characters`);
    const problem = identifierProblem(value);
    if (problem) add(field, problem);
  };
  if (register.workerId !== "" && !UUID.test(register.workerId))
    add("worker_id", "must be empty or the id a dispatcher gave in Registered");
  if (register.workerId === "" && register.resumeToken !== "")
    add("resume_token", "is only sent with the worker_id it proves");
  text("name", register.name, 128);
  text("sdk", register.sdk, 64);
  if (!Number.isInteger(register.slots) || register.slots < 1 || register.slots > limits.maxSlots)
    add("slots", `must be between 1 and ${limits.maxSlots}`);
  if (register.types.length === 0 || register.types.length > MAX_WORKER_TYPES)
    add("types", `must name 1 to ${MAX_WORKER_TYPES} task types`);
  register.types.forEach((type, i) => {
    if (type.length < 1 || type.length > 128) add(`types[${i}]`, "must be 1 to 128 characters");
    else if (!TYPE_PATTERN.test(type)) add(`types[${i}]`, "must use letters, digits and _ . : - / only");
  });
  const labels = Object.entries(register.labels);
  if (labels.length > MAX_WORKER_LABELS) add("labels", `must hold at most ${MAX_WORKER_LABELS} labels`);
  for (const [key, value] of labels.slice(0, MAX_WORKER_LABELS)) {
    text(`labels[${JSON.stringify(key)}]`, key, 128, 1);
    text(`labels[${JSON.stringify(key)}].value`, value, 256);
  }
  // A reconnecting worker lists what it runs and what awaits an ack; more than a few times its
  // slots is not a worker's list.
  const maxActive = 4 * Math.max(1, Math.min(register.slots, limits.maxSlots));
  if (register.active.length > maxActive)
    add("active", `must list at most ${maxActive} attempts (four times the slots)`);
  return problems.slice(0, 20);
}
