// The statistics behind every interval and p-value in a report: checked against values
// computed by hand, against brute force, and by coverage on synthetic data with a known shift.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  betaSample,
  binomial,
  bootstrapReplicates,
  differenceOfMedians,
  excludesZero,
  gammaSample,
  medianOf,
  mulberry32,
  percentileInterval,
  permutationTest,
  quantileOfSorted,
  seedFrom,
  spreadOf,
  standardNormal,
  type Random,
  type Unit,
} from '../../harness/analysis/stats.ts';

const units = (values: number[]): Unit[] => values.map((value) => ({ value }));

function lognormalSample(rng: Random, n: number, medianUs: number, sigma: number): number[] {
  return Array.from({ length: n }, () => medianUs * Math.exp(sigma * standardNormal(rng)));
}

function meanAndVariance(values: number[]): { mean: number; variance: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1);
  return { mean, variance };
}

describe('random numbers', () => {
  test('mulberry32 is reproducible from its seed and uniform on [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const draws = Array.from({ length: 20_000 }, () => a());
    assert.deepEqual(draws.slice(0, 5), Array.from({ length: 5 }, () => b()));
    assert.ok(draws.every((x) => x >= 0 && x < 1));
    const { mean, variance } = meanAndVariance(draws);
    assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / 12) < 0.003, `variance ${variance}`);
    assert.notEqual(mulberry32(43)(), mulberry32(42)());
  });

  test('seedFrom gives different seeds to different texts, always the same to one', () => {
    assert.equal(seedFrom('sidecar-http1-s1|p50'), seedFrom('sidecar-http1-s1|p50'));
    assert.notEqual(seedFrom('sidecar-http1-s1|p50'), seedFrom('sidecar-http1-s1|p99'));
  });

  test('normal, gamma and beta draws have their textbook mean and variance', () => {
    const rng = mulberry32(7);
    const normal = meanAndVariance(Array.from({ length: 20_000 }, () => standardNormal(rng)));
    assert.ok(Math.abs(normal.mean) < 0.03 && Math.abs(normal.variance - 1) < 0.05, JSON.stringify(normal));
    for (const shape of [0.5, 3, 250]) {
      const gamma = meanAndVariance(Array.from({ length: 20_000 }, () => gammaSample(shape, rng)));
      assert.ok(Math.abs(gamma.mean / shape - 1) < 0.03, `gamma(${shape}) mean ${gamma.mean}`);
      assert.ok(Math.abs(gamma.variance / shape - 1) < 0.08, `gamma(${shape}) variance ${gamma.variance}`);
    }
    // Beta(2, 5): mean 2/7, variance 10/392.
    const beta = meanAndVariance(Array.from({ length: 20_000 }, () => betaSample(2, 5, rng)));
    assert.ok(Math.abs(beta.mean - 2 / 7) < 0.005, `beta mean ${beta.mean}`);
    assert.ok(Math.abs(beta.variance - 10 / 392) < 0.002, `beta variance ${beta.variance}`);
  });
});

describe('descriptive', () => {
  test('median, type-7 quantiles and spread by hand', () => {
    assert.equal(medianOf([3, 1, 2]), 2);
    assert.equal(medianOf([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(medianOf([])));
    // Type 7: h = (n − 1)q; [10, 20, 30, 40] at q = 0.25 → h = 0.75 → 10 + 0.75·10.
    assert.equal(quantileOfSorted([10, 20, 30, 40], 0.25), 17.5);
    assert.equal(quantileOfSorted([10, 20, 30, 40], 1), 40);
    assert.deepEqual(spreadOf([412, 455, 398]), { n: 3, median: 412, min: 398, max: 455 });
    assert.equal(binomial(6, 3), 20);
    assert.equal(binomial(40, 20), 137846528820);
  });
});

describe('bootstrap', () => {
  test('the loop is seeded: same seed, same replicates; they come back sorted', () => {
    const replicate = (rng: Random) => [rng(), -rng()];
    const [a1, a2] = bootstrapReplicates(replicate, { seed: 1, iterations: 100 });
    const [b1] = bootstrapReplicates(replicate, { seed: 1, iterations: 100 });
    assert.deepEqual(a1, b1);
    assert.equal(a1!.length, 100);
    assert.ok(a1!.every((v, i) => i === 0 || v >= a1![i - 1]!));
    assert.ok(a2!.every((v) => v <= 0));
    const [low, high] = percentileInterval(Float64Array.from({ length: 101 }, (_, i) => i), 0.9);
    assert.ok(Math.abs(low - 5) < 1e-9 && Math.abs(high - 95) < 1e-9, `${low}, ${high}`);
  });

  test('a difference of constant groups has a zero-width interval at the difference', () => {
    const d = differenceOfMedians(units([100, 100, 100]), units([150, 150, 150]), { seed: 3, iterations: 200 });
    assert.deepEqual([d.estimate, d.low, d.high], [50, 50, 50]);
    assert.deepEqual([d.estimatePct, d.lowPct, d.highPct], [50, 50, 50]);
    assert.ok(excludesZero(d));
  });

  test('with 3 + 3 repeats and no within-repeat noise the interval is the separation range', () => {
    // Resampled medians of 3 values hit the smallest with probability 7/27, so the 2.5 %
    // and 97.5 % replicates are min(next) − max(base) and max(next) − min(base).
    const d = differenceOfMedians(units([200, 210, 220]), units([300, 305, 330]), { seed: 5 });
    assert.equal(d.estimate, 95);
    assert.equal(d.low, 80);
    assert.equal(d.high, 130);
  });

  test('95 % intervals cover a known shift of the median in ≥ 90 % of 200 synthetic experiments', () => {
    // Skewed latencies (lognormal, median 200 µs) and the same distribution moved by +50 µs:
    // the true difference of medians is exactly 50 µs.
    const rng = mulberry32(2024);
    const shiftUs = 50;
    let covered = 0;
    let zeroExcluded = 0;
    const experiments = 200;
    for (let e = 0; e < experiments; e++) {
      const base = lognormalSample(rng, 40, 200, 0.4);
      const next = lognormalSample(rng, 40, 200, 0.4).map((v) => v + shiftUs);
      const d = differenceOfMedians(units(base), units(next), { seed: e, iterations: 1000 });
      if (d.low <= shiftUs && shiftUs <= d.high) covered++;
      if (excludesZero(d)) zeroExcluded++;
    }
    const coverage = covered / experiments;
    assert.ok(coverage >= 0.9, `coverage ${coverage}`);
    assert.ok(coverage <= 0.995, `coverage ${coverage} (intervals far too wide)`);
    // The shift is about 0.6 σ of the per-sample spread at n = 40: many intervals see it.
    assert.ok(zeroExcluded / experiments > 0.4, `power ${zeroExcluded / experiments}`);
  });

  test('… and an interval with no real shift excludes zero in ≤ 10 % of experiments', () => {
    const rng = mulberry32(99);
    let falseAlarms = 0;
    for (let e = 0; e < 200; e++) {
      const d = differenceOfMedians(units(lognormalSample(rng, 30, 200, 0.4)), units(lognormalSample(rng, 30, 200, 0.4)), {
        seed: e,
        iterations: 1000,
      });
      if (excludesZero(d)) falseAlarms++;
    }
    assert.ok(falseAlarms / 200 <= 0.1, `false alarms ${falseAlarms / 200}`);
  });

  test('within-repeat resampling widens the interval of a single repeat from nothing to its noise', () => {
    const rng = mulberry32(11);
    const base: Unit = { value: 100, resample: (r) => 100 + 10 * standardNormal(r) };
    const next: Unit = { value: 130, resample: (r) => 130 + 10 * standardNormal(r) };
    const d = differenceOfMedians([base], [next], { seed: 1, iterations: 4000 });
    // Difference of two N(·, 10²): sd 14.1, so the 95 % interval is 30 ± 27.7.
    assert.ok(Math.abs(d.low - (30 - 27.7)) < 2.5, `low ${d.low}`);
    assert.ok(Math.abs(d.high - (30 + 27.7)) < 2.5, `high ${d.high}`);
    void rng;
  });
});

describe('permutation test', () => {
  test('exact by hand: [1, 2, 3] vs [4, 5, 6] — 4 of the 20 relabellings are as extreme', () => {
    // Observed |5 − 2| = 3. A 3-subset has median 2 and its complement median 5 for
    // {1,2,3} and {1,2,4}; the mirror images {4,5,6} and {3,5,6} give 3 too; every other
    // split differs by 2 or less. p = 4 / 20.
    const p = permutationTest([1, 2, 3], [4, 5, 6], { seed: 1 });
    assert.equal(p.exact, true);
    assert.equal(p.permutations, 20);
    assert.equal(p.pValue, 0.2);
    assert.equal(p.minAttainable, 0.2);
    // 2 + 2: {1,2}|{3,4} and its mirror of 6 splits.
    assert.equal(permutationTest([10, 11], [30, 31], { seed: 1 }).pValue, 2 / 6);
    // A mixed arrangement: observed |median(2, 4, 6) − median(1, 3, 5)| = 1.
    const mixed = permutationTest([1, 3, 5], [2, 4, 6], { seed: 1 });
    assert.ok(mixed.pValue > 0.5, `p ${mixed.pValue}`);
  });

  test('identical samples: p = 1', () => {
    const sample = [180, 185, 191, 176, 202, 188];
    assert.equal(permutationTest(sample, [...sample], { seed: 1 }).pValue, 1);
    const rng = mulberry32(5);
    const big = lognormalSample(rng, 40, 200, 0.4);
    const p = permutationTest(big, [...big], { seed: 2, iterations: 2000 });
    assert.equal(p.exact, false);
    assert.equal(p.pValue, 1);
  });

  test('shifted samples: small p; same-distribution samples: p < 0.05 about 5 % of the time', () => {
    const rng = mulberry32(8);
    const shifted = permutationTest(lognormalSample(rng, 30, 200, 0.3), lognormalSample(rng, 30, 300, 0.3), { seed: 3, iterations: 2000 });
    assert.ok(shifted.pValue < 0.01, `p ${shifted.pValue}`);
    let rejections = 0;
    for (let e = 0; e < 100; e++) {
      const p = permutationTest(lognormalSample(rng, 15, 200, 0.3), lognormalSample(rng, 15, 200, 0.3), { seed: e, iterations: 500 });
      if (p.pValue < 0.05) rejections++;
    }
    assert.ok(rejections <= 12, `${rejections} of 100 rejected at 5 %`);
  });

  test('Monte Carlo agrees with exact enumeration where both are possible', () => {
    const base = [10, 12, 15, 11, 13];
    const next = [14, 16, 13, 18, 17];
    const exact = permutationTest(base, next, { seed: 1 }); // C(10, 5) = 252 relabellings
    const drawn = permutationTest(base, next, { seed: 1, iterations: 100 });
    assert.equal(exact.exact, true);
    assert.equal(drawn.exact, false);
    const many = permutationTest(base, next, { seed: 9, iterations: 200 });
    assert.ok(Math.abs(many.pValue - exact.pValue) < 0.06, `${many.pValue} vs ${exact.pValue}`);
  });
});
