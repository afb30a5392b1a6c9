/** Redis stream ids ("<ms>-<seq>"): positions in a partition of the log, totally ordered. */

/** The position before a stream's first entry. */
export const STREAM_START = "0-0";

/**
 * Orders two Redis stream ids ("ms-seq", decimal without leading zeros): negative, zero or positive.
 * Compares the parts as digit strings (shorter is smaller), allocating nothing: it runs per entry.
 */
export function compareStreamIds(a: string, b: string): number {
  const aDash = a.indexOf("-");
  const bDash = b.indexOf("-");
  const aMsLength = aDash < 0 ? a.length : aDash;
  const bMsLength = bDash < 0 ? b.length : bDash;
  if (aMsLength !== bMsLength) return aMsLength - bMsLength;
  for (let i = 0; i < aMsLength; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  const aSeqLength = aDash < 0 ? 0 : a.length - aDash - 1;
  const bSeqLength = bDash < 0 ? 0 : b.length - bDash - 1;
  if (aSeqLength !== bSeqLength) return aSeqLength - bSeqLength;
  for (let i = 1; i <= aSeqLength; i++) {
    const d = a.charCodeAt(aDash + i) - b.charCodeAt(bDash + i);
    if (d !== 0) return d;
  }
  return 0;
}

/** Milliseconds part of a stream id: when Redis appended the entry. */
export function streamIdTime(streamId: string): number {
  return Number(streamId.slice(0, streamId.indexOf("-")));
}

/** The greatest stream id before `id` (every id of a partition is after it or equal to it). */
export function streamIdBefore(id: string): string {
  const dash = id.indexOf("-");
  const ms = Number(id.slice(0, dash));
  const seq = Number(id.slice(dash + 1));
  if (seq > 0) return `${ms}-${seq - 1}`;
  return ms > 0 ? `${ms - 1}-${Number.MAX_SAFE_INTEGER}` : STREAM_START;
}

/** The least stream id after `id`. */
export function streamIdAfter(id: string): string {
  const dash = id.indexOf("-");
  return `${id.slice(0, dash)}-${Number(id.slice(dash + 1)) + 1}`;
}
