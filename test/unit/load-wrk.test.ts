import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeHistogram, summarizeLatencyUs } from '../../harness/load/histogram.ts';
import { parseWrkOutput, wrkOutcome, type WrkSummary } from '../../harness/load/wrk.ts';
import type { LoadSpec } from '../../harness/load/types.ts';

const stdout = `Running 1s test @ http://127.0.0.1:8080/
  1 threads and 4 connections
  Latency Distribution
     50%  100.00us
Requests/sec:  1000.00

{"meshbench":"wrk","durationUs":1000000,"requests":1000,"bytes":1000000,"errors":{"connect":0,"read":1,"write":0,"status":10,"timeout":2},"latencyUs":{"min":50,"max":900,"mean":120.5,"p50":100,"p90":200,"p99":800,"p999":900},"percentiles":[50.000,90.000,99.000,100.000],"quantilesUs":[100,200,800,900]}
`;

const spec: LoadSpec = { targets: [{ host: '127.0.0.1', port: 8080 }], model: 'closed', connections: 4, durationMs: 1000, warmupMs: 0 };

describe('wrk driver (pure parts)', () => {
  it('parses the Lua summary line', () => {
    const s = parseWrkOutput(stdout);
    assert.equal(s.requests, 1000);
    assert.equal(s.errors.status, 10);
    assert.deepEqual(s.quantilesUs, [100, 200, 800, 900]);
  });

  it('refuses output without a summary', () => {
    assert.throws(() => parseWrkOutput('Requests/sec: 5\n'), /no summary line/);
  });

  it('turns one summary into a LoadOutcome with wrk’s own percentiles', () => {
    const o = wrkOutcome(spec, [], [parseWrkOutput(stdout)]);
    assert.equal(o.driver, 'wrk');
    assert.equal(o.requests, 990);
    assert.equal(o.non2xx, 10);
    assert.equal(o.socketErrors, 3);
    assert.equal(o.achievedRps, 1000);
    assert.equal(o.measuredMs, 1000);
    assert.equal(o.latencyUs.p99, 800);
    assert.equal(o.saturated, false);
    assert.equal(summarizeLatencyUs(decodeHistogram(o.histogram!)).count, 1000);
  });

  it('merges several targets through their histograms', () => {
    const a = parseWrkOutput(stdout);
    const b: WrkSummary = { ...a, requests: 3000, errors: { ...a.errors, status: 0 }, quantilesUs: [1000, 2000, 8000, 9000] };
    const o = wrkOutcome({ ...spec, targets: [spec.targets[0], spec.targets[0]] }, [], [a, b]);
    assert.equal(o.latencyUs.count, 4000);
    assert.equal(o.requests, 3990);
    assert.equal(o.achievedRps, 4000);
    assert.ok(Math.abs(o.latencyUs.p50 - 1000) <= 1);
  });
});
