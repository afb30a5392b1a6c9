import { DEFAULT_NAMESPACE } from "../task/namespace.ts";

/**
 * The namespace a schedule belongs to: its task template's, fixed when it was created (schedules
 * made before namespaces existed have none and are in `default`).
 */
export function scheduleNamespace(task: Record<string, unknown> | null | undefined): string {
  const namespace = task?.namespace;
  return typeof namespace === "string" ? namespace : DEFAULT_NAMESPACE;
}
