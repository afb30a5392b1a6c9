/** Short, readable renderings of times, durations and counts. */

export function duration(ms: number | null | undefined): string {
  if (ms == null) return "–";
  if (ms < 1) return ms <= 0 ? "0 ms" : `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function time(iso: string | null | undefined): string {
  if (!iso) return "–";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour12: false })
    : date.toLocaleString([], { hour12: false, dateStyle: "short", timeStyle: "medium" });
}

export function count(n: number | null | undefined): string {
  if (n == null) return "–";
  return n >= 10_000 ? `${(n / 1000).toFixed(n >= 100_000 ? 0 : 1)}k` : String(Math.round(n));
}

export function percent(rate: number | null | undefined): string {
  return rate == null ? "–" : `${(rate * 100).toFixed(rate < 0.1 ? 1 : 0)}%`;
}

export function json(value: unknown): string {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

/**
 * A task id shortened for lists: its start (the creation time of a UUIDv7) and its end (random), so
 * ids made in the same second still differ on screen.
 */
export const shortId = (id: string): string => (id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id);
