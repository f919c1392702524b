// Known answers in the tail, through the real platform (baseline data path, the default
// server in its pod, the native driver in the client pod on its own CPU):
// - a 2 ms server delay moves the p50 by 2 ms ± 5 % and the p99 by 2 ms ± 10 % (HTTP/1.1
//   and gRPC unary), so the driver's own tail is far below what it measures;
// - a server stopped for 1 s in a 10 s window at 200 req/s gives the open model's analytic
//   p99: the ~200 requests due during the stall wait from 1 s down to 0, the slowest 1 % of
//   the window's 2000 are those due in the stall's first 0.1 s, so p99 = 0.9 s (± 10 %).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { GrpcDriverOutcome } from '../../harness/load/grpcDriver.ts';
import { LocalCluster } from '../../harness/platform/local/cluster.ts';
import { Haproxy } from '../../harness/proxy/haproxy.ts';
import { bringUp, driveLoad, type DriverRun } from '../../harness/runner/cell.ts';
import type { Protocol, Scenario } from '../../harness/scenario/types.ts';
import { assertNothingLeft, requireRoot, testRun, testScenario } from './helpers.ts';

async function measure(scenario: Scenario, protocol: Protocol = 'http1', during?: (serverPid: number) => Promise<void>): Promise<DriverRun> {
  const { runId, state } = testRun();
  const cluster = new LocalCluster(runId, state);
  try {
    const live = await bringUp({ mesh: 'baseline', services: 1, protocol }, { runId, state, proxy: new Haproxy(), scenario }, cluster);
    const [measured] = await Promise.all([driveLoad(live, scenario), during?.(live.apps[0]!.pid)]);
    return measured;
  } finally {
    await cluster.down();
    state.close();
  }
}

function line(label: string, r: DriverRun): string {
  const l = r.outcome.latencyUs;
  const s = (r.outcome as GrpcDriverOutcome & { accounting?: { schedulerLatenessUs?: { p99: number; max: number } } }).accounting?.schedulerLatenessUs;
  return `${label}: p50 ${l.p50} p99 ${l.p99} p99.9 ${l.p999} max ${l.max} µs${s ? ` (scheduler lateness p99 ${s.p99} max ${s.max} µs)` : ''}`;
}

describe('native driver: known answers in the tail, through the platform', () => {
  before(requireRoot);
  after(assertNothingLeft);

  for (const protocol of ['http1', 'grpc'] as const) {
    test(`${protocol}: a 2 ms server delay moves p50 by 2 ms ± 5 % and p99 by 2 ms ± 10 %`, async () => {
      const load = { model: 'open' as const, rate: 200, connections: 4, durationMs: 6000, warmupMs: 1000, driver: 'native' as const };
      const base: Partial<Scenario> = protocol === 'grpc' ? { protocols: ['grpc'], grpc: { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1 } } : {};
      // The delayed request needs one more wake-up of the server, which a busy host delays,
      // and the p99 of 1200 requests sees whatever else takes the pods' CPU: up to 5 paired
      // attempts (as test/system/driver.test.ts), every one logged; one within both tolerances passes.
      const attempts: Array<{ p50: number; p99: number }> = [];
      for (let attempt = 1; attempt <= 5; attempt++) {
        const zero = await measure(testScenario(base, load, { delayUs: 0 }), protocol);
        const delayed = await measure(testScenario(base, load, { delayUs: 2000 }), protocol);
        for (const r of [zero, delayed]) {
          assert.equal(r.outcome.driver, 'native');
          assert.equal(r.outcome.non2xx + r.outcome.socketErrors, 0);
          assert.equal(r.outcome.saturated, false);
        }
        const added = { p50: delayed.outcome.latencyUs.p50 - zero.outcome.latencyUs.p50, p99: delayed.outcome.latencyUs.p99 - zero.outcome.latencyUs.p99 };
        attempts.push(added);
        process.stderr.write(`# ${protocol} attempt ${attempt}: ${line('delay 0', zero)}; ${line('delay 2 ms', delayed)}; added p50 ${added.p50} p99 ${added.p99} µs\n`);
        if (Math.abs(added.p50 - 2000) <= 100 && Math.abs(added.p99 - 2000) <= 200) break;
      }
      assert.ok(
        attempts.some((a) => Math.abs(a.p50 - 2000) <= 100 && Math.abs(a.p99 - 2000) <= 200),
        `added (p50, p99) ${attempts.map((a) => `(${a.p50}, ${a.p99})`).join(', ')} µs, expected (2000 ± 100, 2000 ± 200)`,
      );
    });
  }

  test('stall: a server stopped for 1 s in a 10 s window at 200 req/s gives p99 0.9 s ± 10 %', async () => {
    const scenario = testScenario({}, { model: 'open', rate: 200, connections: 4, durationMs: 10_000, warmupMs: 1000, driver: 'native' });
    const stalled = await measure(scenario, 'http1', async (serverPid) => {
      // The native driver starts within ms, the warm-up is 1 s: the stop lands ~4 s into the window.
      await new Promise((r) => setTimeout(r, 5000));
      process.kill(serverPid, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 1000));
      process.kill(serverPid, 'SIGCONT');
    });
    const o = stalled.outcome;
    process.stderr.write(`# ${line('stalled 1 s', stalled)}, ${o.requests} requests in the window\n`);
    assert.equal(o.driver, 'native');
    assert.equal(o.non2xx + o.socketErrors, 0);
    assert.ok(o.requests >= 1990 && o.requests <= 2010, `${o.requests} requests in a 10 s window at 200 req/s`);
    assert.ok(Math.abs(o.latencyUs.p99 - 900_000) <= 90_000, `p99 ${o.latencyUs.p99} µs, analytic 900 000 ± 90 000`);
    assert.ok(o.latencyUs.max >= 990_000 && o.latencyUs.max <= 1_100_000, `max ${o.latencyUs.max} µs: the first request of the stall waits it out`);
  });
});
