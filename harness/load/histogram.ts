// Latency histograms in µs (HDR, 3 significant digits) and the summary result.json stores.
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import type { LatencySummaryUs } from '../results/types.ts';

/** 60 s: far beyond any timeout; larger values still record (the histogram resizes). */
const HIGHEST_TRACKABLE_US = 60_000_000;

export type LatencyHistogram = Histogram;

export function createLatencyHistogram(): LatencyHistogram {
  return build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/**
 * Records one latency. Sub-µs values count as 1 µs so that every request is visible in
 * `count` and `min` (an HDR histogram cannot tell 0 from "nothing recorded" in minNonZero).
 */
export function recordLatencyUs(histogram: LatencyHistogram, latencyUs: number): void {
  histogram.recordValue(latencyUs < 1 ? 1 : Math.round(latencyUs));
}

/** The percentiles result.json stores; all zero for an empty histogram. */
export function summarizeLatencyUs(histogram: LatencyHistogram): LatencySummaryUs {
  const count = histogram.totalCount;
  if (count === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, min: 0, mean: 0, count: 0 };
  return {
    p50: histogram.getValueAtPercentile(50),
    p90: histogram.getValueAtPercentile(90),
    p99: histogram.getValueAtPercentile(99),
    p999: histogram.getValueAtPercentile(99.9),
    max: histogram.maxValue,
    min: histogram.minNonZeroValue,
    mean: Math.round(histogram.mean * 10) / 10,
    count,
  };
}

export function encodeHistogram(histogram: LatencyHistogram): string {
  return encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(base64: string): LatencyHistogram {
  return decodeFromCompressedBase64(base64, 32, false);
}

/** Sums histograms (e.g. of several driver processes) into a new one. */
export function mergeHistograms(histograms: readonly LatencyHistogram[]): LatencyHistogram {
  const merged = createLatencyHistogram();
  for (const h of histograms) merged.add(h);
  return merged;
}

/**
 * Rebuilds an approximate histogram from a distribution known only by its quantiles
 * (wrk reports percentiles, not counts): `quantilesUs[i]` is the value at percentile
 * `percentiles[i]` (ascending), `total` the number of samples. Each quantile step gets
 * the share of samples between its percentile and the previous one.
 */
export function histogramFromQuantiles(
  percentiles: readonly number[],
  quantilesUs: readonly number[],
  total: number,
): LatencyHistogram {
  const histogram = createLatencyHistogram();
  let assigned = 0;
  for (let i = 0; i < percentiles.length; i++) {
    const pct = percentiles[i];
    const target = i === percentiles.length - 1 ? total : Math.round((pct / 100) * total);
    const n = target - assigned;
    if (n > 0) {
      const valueUs = quantilesUs[i] < 1 ? 1 : Math.round(quantilesUs[i]);
      histogram.recordValueWithCount(valueUs, n);
      assigned += n;
    }
  }
  return histogram;
}
