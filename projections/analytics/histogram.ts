/**
 * Latency histograms with fixed log-scale buckets, so that histograms of any rows add up bucket by
 * bucket and percentiles over any window are estimated from the sum (docs/analytics.md).
 *
 * Bucket 0 holds [0, 1) ms; bucket j (1 ≤ j < BUCKETS − 1) holds [2^((j−1)/2), 2^(j/2)) ms — each
 * bucket √2 wider than the one before, so an estimate interpolated inside a bucket is off by at most
 * a factor of √2 and usually by much less; the last bucket holds everything from 2^27 ms (37 h) on.
 * Changing these bounds changes the meaning of every stored row: add a new column instead.
 */
export const BUCKETS = 56;

/** The lower bound of bucket `j`, in ms. */
export function bucketLowerBound(j: number): number {
  return j === 0 ? 0 : 2 ** ((j - 1) / 2);
}

/** The upper bound of bucket `j` (exclusive), in ms; Infinity for the last. */
export function bucketUpperBound(j: number): number {
  return j >= BUCKETS - 1 ? Infinity : 2 ** (j / 2);
}

/** The bucket a duration falls in; negative durations (clock skew) count as 0. */
export function bucketOf(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(BUCKETS - 1, 1 + Math.floor(2 * Math.log2(ms)));
}

/** An empty histogram. */
export function emptyHistogram(): number[] {
  return new Array<number>(BUCKETS).fill(0);
}

/**
 * The estimated `q`-quantile (0 < q ≤ 1) of the durations counted in `counts`, in ms, or null when
 * it counts none. The rank is located in its bucket and interpolated geometrically between the
 * bucket's bounds (linearly in the first, which starts at 0); the open last bucket answers its
 * lower bound.
 */
export function quantile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((sum, c) => sum + c, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let j = 0; j < counts.length; j++) {
    const count = counts[j] ?? 0;
    if (count === 0 || seen + count < rank) {
      seen += count;
      continue;
    }
    const fraction = (rank - seen) / count;
    const low = bucketLowerBound(j);
    const high = bucketUpperBound(j);
    if (!Number.isFinite(high)) return low;
    if (low === 0) return fraction * high;
    return low * (high / low) ** fraction;
  }
  return bucketLowerBound(counts.length - 1);
}
