import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createLatencyHistogram,
  decodeHistogram,
  encodeHistogram,
  histogramFromQuantiles,
  mergeHistograms,
  recordLatencyUs,
  summarizeLatencyUs,
} from '../../harness/load/histogram.ts';

describe('latency histogram', () => {
  it('extracts percentiles in µs within HDR precision (3 digits)', () => {
    const h = createLatencyHistogram();
    for (let v = 1; v <= 10_000; v++) recordLatencyUs(h, v); // uniform 1..10000 µs
    const s = summarizeLatencyUs(h);
    assert.equal(s.count, 10_000);
    assert.equal(s.min, 1);
    const near = (actual: number, expected: number): void =>
      assert.ok(Math.abs(actual - expected) <= expected * 0.001 + 1, `${actual} vs ${expected}`);
    near(s.p50, 5000);
    near(s.p90, 9000);
    near(s.p99, 9900);
    near(s.p999, 9990);
    near(s.max, 10_000);
    near(s.mean, 5000.5);
  });

  it('keeps sub-µs latencies visible as 1 µs and rounds fractions', () => {
    const h = createLatencyHistogram();
    recordLatencyUs(h, 0.2);
    recordLatencyUs(h, 2.6);
    const s = summarizeLatencyUs(h);
    assert.equal(s.count, 2);
    assert.equal(s.min, 1);
    assert.equal(s.max, 3);
  });

  it('records latencies beyond its nominal range (a stalled server)', () => {
    const h = createLatencyHistogram();
    recordLatencyUs(h, 120_000_000); // 2 minutes
    assert.ok(Math.abs(summarizeLatencyUs(h).max - 120_000_000) <= 120_000);
  });

  it('summarizes an empty histogram as zeros', () => {
    assert.deepEqual(summarizeLatencyUs(createLatencyHistogram()), {
      p50: 0, p90: 0, p99: 0, p999: 0, max: 0, min: 0, mean: 0, count: 0,
    });
  });

  it('encodes to base64 and decodes to the same distribution', () => {
    const h = createLatencyHistogram();
    for (let i = 0; i < 5000; i++) recordLatencyUs(h, 50 + ((i * 7919) % 20_000));
    recordLatencyUs(h, 1_500_000);
    const b64 = encodeHistogram(h);
    assert.match(b64, /^[A-Za-z0-9+/]+=*$/);
    const back = summarizeLatencyUs(decodeHistogram(b64));
    const orig = summarizeLatencyUs(h);
    // The decoded max is its bucket's highest equivalent value (HDR: 3 significant digits).
    assert.ok(back.max >= orig.max && back.max <= orig.max * 1.001, `${back.max} vs ${orig.max}`);
    assert.deepEqual({ ...back, max: 0 }, { ...orig, max: 0 });
  });

  it('merges histograms by adding counts', () => {
    const a = createLatencyHistogram();
    const b = createLatencyHistogram();
    for (let i = 0; i < 100; i++) recordLatencyUs(a, 100);
    for (let i = 0; i < 300; i++) recordLatencyUs(b, 300);
    const m = summarizeLatencyUs(mergeHistograms([a, b]));
    assert.equal(m.count, 400);
    assert.equal(m.p50, 300);
    assert.equal(m.min, 100);
    assert.equal(m.mean, 250);
  });

  it('rebuilds a histogram from quantiles (wrk) with the right counts and percentiles', () => {
    const pcts = [10, 50, 90, 99, 100];
    const qs = [100, 200, 300, 900, 1000];
    const s = summarizeLatencyUs(histogramFromQuantiles(pcts, qs, 1000));
    assert.equal(s.count, 1000);
    assert.equal(s.min, 100);
    assert.equal(s.p50, 200);
    assert.equal(s.p90, 300);
    assert.equal(s.p99, 900);
    assert.equal(s.max, 1000);
  });
});
