// The fit functions of the services-per-node sweep on synthetic data with a known slope:
// Student's t against tables, the OLS line and its interval (exact on a line, covering the
// true slope ~95 % of the time under noise), values at 100/250 services flagged as
// extrapolations, and the per-mesh fits of a synthetic sweep.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  EXTRAPOLATE_AT, fitValueAt, linearFit, scalingFits, scalingValue, studentTCdf, studentTQuantile,
} from '../../harness/analysis/scaling.ts';
import { mulberry32, standardNormal } from '../../harness/analysis/stats.ts';
import { NODE_PROXY_MIB_PER_SERVICE, SIDECAR_MIB, sweepCells } from '../fixtures/scaling.ts';

const close = (actual: number, expected: number, tolerance: number, what = ''): void =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} not within ${tolerance} of ${expected}`);

describe("Student's t", () => {
  test('quantiles match the tables', () => {
    // t(0.975, df) from any statistics table.
    for (const [df, t] of [[1, 12.7062], [2, 4.3027], [3, 3.1824], [5, 2.5706], [10, 2.2281], [30, 2.0423], [1000, 1.9623]] as const) {
      close(studentTQuantile(0.975, df), t, 5e-4, `df ${df}`);
    }
    close(studentTQuantile(0.995, 4), 4.6041, 5e-4);
    close(studentTQuantile(0.025, 10), -2.2281, 5e-4);
    close(studentTCdf(0, 7), 0.5, 1e-12);
    assert.ok(Number.isNaN(studentTQuantile(0.975, 0)), 'no degrees of freedom, no quantile');
  });
});

describe('linearFit', () => {
  test('a straight line exactly: slope, intercept, R² 1, a zero-width interval', () => {
    const xs = [1, 5, 10, 30, 60, 100];
    const fit = linearFit(xs, xs.map((x) => 12.5 + 3 * x))!;
    close(fit.slope, 3, 1e-12);
    close(fit.intercept, 12.5, 1e-9);
    close(fit.r2, 1, 1e-12);
    close(fit.slopeHigh - fit.slopeLow, 0, 1e-9);
    assert.equal(fit.n, 6);
    assert.equal(fit.xMax, 100);
  });

  test('no line through one service count; two points: a line without an interval', () => {
    assert.equal(linearFit([10, 10, 10], [1, 2, 3]), undefined);
    const two = linearFit([1, 10], [5, 50])!;
    close(two.slope, 5, 1e-12);
    assert.ok(Number.isNaN(two.slopeLow) && Number.isNaN(two.residualSd));
  });

  test('flat data: slope 0 and no R² to speak of', () => {
    const fit = linearFit([1, 10, 30], [7, 7, 7])!;
    assert.equal(fit.slope, 0);
    assert.ok(Number.isNaN(fit.r2));
  });

  test('under noise: the estimate is near the true slope and the 95 % interval covers it ~95 % of the time', () => {
    const xs = [1, 5, 10, 30, 60, 100, 1, 5, 10, 30, 60, 100];
    const trueSlope = 14; // MiB per sidecar
    let covered = 0;
    const trials = 1000;
    const rng = mulberry32(42);
    for (let i = 0; i < trials; i++) {
      const ys = xs.map((x) => 20 + trueSlope * x + 25 * standardNormal(rng));
      const fit = linearFit(xs, ys)!;
      if (fit.slopeLow <= trueSlope && trueSlope <= fit.slopeHigh) covered++;
    }
    // Binomial(1000, 0.95): 95 % ± 2 % holds with probability > 0.99.
    close(covered / trials, 0.95, 0.02, 'coverage');
    const one = linearFit(xs, xs.map((x, i) => 20 + trueSlope * x + (i % 2 === 0 ? 3 : -3)))!;
    close(one.slope, trueSlope, 0.1);
    assert.ok(one.r2 > 0.99);
  });

  test('values at 100 and 250 services: inside the measured range or flagged as extrapolated', () => {
    const xs = [1, 10, 30, 60, 100];
    const fit = linearFit(xs, xs.map((x, i) => 10 + 2 * x + [0.5, -0.5, 0.3, -0.2, 0.1][i]!))!;
    const at100 = fitValueAt(fit, 100);
    const at250 = fitValueAt(fit, 250);
    assert.equal(at100.extrapolated, false);
    assert.equal(at250.extrapolated, true);
    close(at250.estimate, 10 + 2 * 250, 2);
    assert.ok(at250.low < at250.estimate && at250.estimate < at250.high);
    // Further from the data, a wider interval.
    assert.ok(at250.high - at250.low > at100.high - at100.low);
  });
});

describe('scalingFits on a synthetic sweep', () => {
  const cells = sweepCells();
  const fits = scalingFits(cells);
  const find = (mesh: string, metric: string) => fits.find((f) => f.mesh === mesh && f.metric === metric);

  test('sidecar memory grows a sidecar per service; the node proxy barely grows', () => {
    const sidecar = find('sidecar', 'proxyMemory')!;
    close(sidecar.fit!.slope, SIDECAR_MIB, 0.05, 'sidecar MiB per service');
    assert.ok(sidecar.fit!.slopeLow > 13.9 && sidecar.fit!.slopeHigh < 14.1);
    assert.ok(sidecar.fit!.r2 > 0.999);
    const ebpf = find('ebpf', 'proxyMemory')!;
    close(ebpf.fit!.slope, NODE_PROXY_MIB_PER_SERVICE, 0.01, 'node proxy MiB per service');
    assert.deepEqual(sidecar.at.map((v) => v.services), [...EXTRAPOLATE_AT]);
    assert.equal(sidecar.at[0]!.extrapolated, true, 'the sweep stops at 30 services');
  });

  test('meshes without proxies get no proxy figures, but latency and node CPU', () => {
    for (const mesh of ['baseline', 'ebpf-l4']) {
      assert.equal(find(mesh, 'proxyMemory'), undefined);
      assert.equal(find(mesh, 'idleProxyCpu'), undefined);
      assert.ok(find(mesh, 'p99')?.fit);
      assert.ok(find(mesh, 'nodeCpu')?.fit);
    }
    close(find('sidecar', 'p99')!.fit!.slope, 5, 1.5, 'sidecar p99 µs per service');
  });

  test('idle: memory and wake-ups per second of the proxies', () => {
    close(find('sidecar', 'idleProxyMemory')!.fit!.slope, SIDECAR_MIB - 1, 1e-6);
    close(find('sidecar', 'idleProxyWakeups')!.fit!.slope, 2, 1e-9, 'wake-ups/s per service'); // 10 per 5 s window
    close(find('ebpf', 'idleProxyWakeups')!.fit!.slope, 0, 1e-9);
  });

  test('saturated cells are left out of latency fits, not of memory', () => {
    const saturated = cells.map((c) => (c.mesh === 'sidecar' && c.services === 30 && c.repeat === 1 ? { ...c, load: { ...c.load, saturated: true } } : c));
    const again = scalingFits(saturated);
    assert.equal(again.find((f) => f.mesh === 'sidecar' && f.metric === 'p99')!.excluded, 1);
    assert.equal(again.find((f) => f.mesh === 'sidecar' && f.metric === 'proxyMemory')!.excluded, 0);
    assert.equal(scalingValue(saturated.find((c) => c.mesh === 'sidecar' && c.services === 30)!, 'p99'), undefined);
  });

  test("fewer than three service counts: nothing to fit (two always sit on a line)", () => {
    assert.deepEqual(scalingFits(cells.filter((c) => c.services === 10)), []);
    assert.deepEqual(scalingFits(cells.filter((c) => c.services === 10 || c.services === 30)), []);
  });
});
