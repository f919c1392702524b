// A cell's latency distribution, decoded from the HDR histogram result.json carries
// (`load.histogram`, hdr-histogram-js compressed base64, values in µs). Percentiles follow
// HdrHistogram's own rule (the smallest recorded value whose cumulative count reaches
// ceil(p/100 · count), reported as its bucket's highest equivalent value), so a percentile
// read here equals the one the load driver stored in `latencyUs`.
import { decodeFromCompressedBase64, type JsHistogram } from 'hdr-histogram-js';
import { betaSample, type Random } from './stats.ts';

export interface LatencyDistribution {
  /** Distinct recorded values, ascending, µs. */
  valuesUs: Float64Array;
  /** cumulativeCounts[i]: recorded values ≤ valuesUs[i]. */
  cumulativeCounts: Float64Array;
  count: number;
}

/** Decodes `load.histogram`; throws when the text is not a histogram. */
export function decodeLatencyHistogram(base64: string): LatencyDistribution {
  const histogram = decodeFromCompressedBase64(base64, 32, false) as unknown as JsHistogram;
  const pairs: Array<[number, number]> = [];
  const iterator = histogram.recordedValuesIterator;
  iterator.reset();
  while (iterator.hasNext()) {
    const step = iterator.next();
    pairs.push([step.valueIteratedTo, step.countAtValueIteratedTo]);
  }
  return fromValueCounts(pairs);
}

/** From (value µs, count) pairs in any order. */
export function fromValueCounts(pairs: ReadonlyArray<readonly [number, number]>): LatencyDistribution {
  const byValue = new Map<number, number>();
  for (const [value, count] of pairs) if (count > 0) byValue.set(value, (byValue.get(value) ?? 0) + count);
  const values = [...byValue.keys()].sort((a, b) => a - b);
  const valuesUs = Float64Array.from(values);
  const cumulativeCounts = new Float64Array(values.length);
  let total = 0;
  values.forEach((value, i) => {
    total += byValue.get(value)!;
    cumulativeCounts[i] = total;
  });
  return { valuesUs, cumulativeCounts, count: total };
}

/** Pools several distributions (e.g. a mesh's repeats) into one. */
export function mergeDistributions(distributions: readonly LatencyDistribution[]): LatencyDistribution {
  const pairs: Array<[number, number]> = [];
  for (const d of distributions) {
    for (let i = 0; i < d.valuesUs.length; i++) {
      pairs.push([d.valuesUs[i]!, d.cumulativeCounts[i]! - (i === 0 ? 0 : d.cumulativeCounts[i - 1]!)]);
    }
  }
  return fromValueCounts(pairs);
}

/** The k-th smallest recorded value (1-based rank, clamped to 1…count). */
export function valueAtRank(distribution: LatencyDistribution, rank: number): number {
  const { cumulativeCounts, valuesUs, count } = distribution;
  if (count === 0) return Number.NaN;
  const k = Math.min(count, Math.max(1, rank));
  let lo = 0;
  let hi = cumulativeCounts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulativeCounts[mid]! >= k) hi = mid;
    else lo = mid + 1;
  }
  return valuesUs[lo]!;
}

/** Rank of percentile p (0–100) among `count` values, as HdrHistogram computes it. */
export function rankOfPercentile(percentile: number, count: number): number {
  const exact = (Math.min(percentile, 100) / 100) * count;
  // Guard against 1-ulp float excess (e.g. 0.99 · 3000 = 2970.0000000000005).
  return Math.max(1, Math.ceil(exact - Math.abs(exact) * Number.EPSILON * 4));
}

export function percentileUs(distribution: LatencyDistribution, percentile: number): number {
  return valueAtRank(distribution, rankOfPercentile(percentile, distribution.count));
}

/**
 * One bootstrap draw of percentile p: the p-percentile of N values resampled from the
 * recorded ones, without resampling them. The rank-k value of N uniform draws is Beta(k,
 * N − k + 1) distributed, and the empirical quantile function maps it to a latency exactly.
 */
export function sampledPercentileUs(distribution: LatencyDistribution, percentile: number, rng: Random): number {
  const n = distribution.count;
  if (n === 0) return Number.NaN;
  const k = rankOfPercentile(percentile, n);
  const u = betaSample(k, n - k + 1, rng);
  return valueAtRank(distribution, Math.ceil(u * n));
}

export interface PercentilePoint {
  /** 0 ≤ percentile < 100. */
  percentile: number;
  /** 1 / (1 − percentile/100): the x of an HdrHistogram percentile plot (log axis). */
  inverseTail: number;
  latencyUs: number;
}

/**
 * The percentile curve, HdrHistogram style: `ticksPerHalf` points per halving of the
 * tail (0, 50, 75, 87.5 … %), up to the last percentile the count can resolve, then the
 * maximum at 1 − 1/count.
 */
export function percentileCurve(distribution: LatencyDistribution, ticksPerHalf = 5): PercentilePoint[] {
  const n = distribution.count;
  if (n === 0) return [];
  const points: PercentilePoint[] = [];
  for (let step = 0; ; step++) {
    const inverseTail = 2 ** (step / ticksPerHalf);
    if (inverseTail >= n) break;
    const percentile = 100 * (1 - 1 / inverseTail);
    points.push({ percentile: round(percentile, 6), inverseTail: round(inverseTail, 6), latencyUs: percentileUs(distribution, percentile) });
  }
  const lastInverseTail = Math.max(n, 1);
  points.push({
    percentile: round(100 * (1 - 1 / lastInverseTail), 6),
    inverseTail: lastInverseTail,
    latencyUs: distribution.valuesUs[distribution.valuesUs.length - 1]!,
  });
  return points;
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}
