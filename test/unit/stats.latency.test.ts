// Latency distributions decoded from result.json's HDR histograms: percentiles must equal
// HdrHistogram's own, and the per-repeat bootstrap draw must match brute-force resampling.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import {
  decodeLatencyHistogram,
  fromValueCounts,
  mergeDistributions,
  percentileCurve,
  percentileUs,
  sampledPercentileUs,
  valueAtRank,
} from '../../harness/analysis/latency.ts';
import { medianOf, mulberry32, standardNormal } from '../../harness/analysis/stats.ts';

function hdr() {
  // The load driver's settings (harness/load/histogram.ts).
  return build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

function meanAndSd(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean, sd: Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) };
}

describe('latency distributions', () => {
  test('percentiles of a decoded histogram equal HdrHistogram’s getValueAtPercentile', () => {
    const rng = mulberry32(1);
    const histogram = hdr();
    for (let i = 0; i < 3000; i++) histogram.recordValue(Math.round(180 * Math.exp(0.5 * standardNormal(rng))));
    const distribution = decodeLatencyHistogram(encodeIntoCompressedBase64(histogram));
    assert.equal(distribution.count, 3000);
    for (const p of [0.1, 10, 50, 90, 99, 99.9, 99.99, 100]) {
      assert.equal(percentileUs(distribution, p), histogram.getValueAtPercentile(p), `p${p}`);
    }
    assert.equal(percentileUs(distribution, 100), histogram.maxValue);
  });

  test('ranks, merging and the HdrHistogram-style curve', () => {
    const d = fromValueCounts([[300, 1], [100, 2], [200, 1]]);
    assert.deepEqual([1, 2, 3, 4].map((k) => valueAtRank(d, k)), [100, 100, 200, 300]);
    assert.equal(percentileUs(d, 50), 100);
    assert.equal(percentileUs(d, 75), 200);
    const merged = mergeDistributions([d, fromValueCounts([[100, 4]])]);
    assert.equal(merged.count, 8);
    assert.equal(percentileUs(merged, 75), 100);
    const curve = percentileCurve(fromValueCounts(Array.from({ length: 1000 }, (_, i) => [i + 1, 1] as [number, number])));
    assert.equal(curve[0]!.percentile, 0);
    assert.equal(curve[5]!.percentile, 50); // 5 ticks per halving of the tail
    assert.equal(curve[5]!.latencyUs, 500);
    assert.ok(curve.every((p, i) => i === 0 || (p.inverseTail > curve[i - 1]!.inverseTail && p.latencyUs >= curve[i - 1]!.latencyUs)));
    assert.deepEqual(curve.at(-1), { percentile: 99.9, inverseTail: 1000, latencyUs: 1000 });
  });

  test('a Beta-rank draw of a percentile matches brute-force bootstrap resampling', () => {
    const rng = mulberry32(3);
    const values = Array.from({ length: 800 }, () => Math.round(200 * Math.exp(0.6 * standardNormal(rng))));
    const distribution = fromValueCounts(values.map((v) => [v, 1]));
    for (const p of [50, 99]) {
      const viaBeta: number[] = [];
      const bruteForce: number[] = [];
      for (let i = 0; i < 3000; i++) {
        viaBeta.push(sampledPercentileUs(distribution, p, rng));
        const resample = Array.from({ length: values.length }, () => values[Math.floor(rng() * values.length)]!);
        bruteForce.push(percentileUs(fromValueCounts(resample.map((v) => [v, 1])), p));
      }
      const a = meanAndSd(viaBeta);
      const b = meanAndSd(bruteForce);
      assert.ok(Math.abs(a.mean - b.mean) / b.mean < 0.02, `p${p} mean ${a.mean} vs ${b.mean}`);
      assert.ok(Math.abs(a.sd - b.sd) / b.sd < 0.12, `p${p} sd ${a.sd} vs ${b.sd}`);
      assert.ok(Math.abs(medianOf(viaBeta) - medianOf(bruteForce)) / b.mean < 0.02);
    }
  });
});
