// The gRPC driver against gRPC workload-server processes on 127.0.0.1: every call accounted
// for against the server's own count, a stalled server in the open model's tail, saturation
// flagged, timeouts, and a weighted spread. Servers on CPU 1, the driver on CPU 0 (as the
// harness places them) when the host has two CPUs.
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { GrpcDriverOutcome } from '../../harness/load/grpcDriver.ts';
import { runGrpcDriverProcess } from '../../harness/load/grpcProcess.ts';
import type { GrpcLoadSpec } from '../../harness/load/grpcSpec.ts';
import { grpcLocalStats, startGrpcServerProcess, type GrpcServerProcess } from './grpc-helpers.ts';
import { withServerStall } from './helpers.ts';

const twoCpus = cpus().length >= 2;
const SERVER_PREFIX = twoCpus ? ['taskset', '-c', '1'] : [];
const DRIVER_PREFIX = twoCpus ? ['taskset', '-c', '0'] : [];

function spec(ports: number[], over: Partial<GrpcLoadSpec> = {}, grpc: Partial<GrpcLoadSpec['grpc']> = {}): GrpcLoadSpec {
  return {
    targets: ports.map((port) => ({ host: '127.0.0.1', port, path: '/' })),
    model: 'open',
    rate: 200,
    connections: ports.length,
    durationMs: 2000,
    warmupMs: 500,
    ...over,
    grpc: { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1, ...grpc },
  };
}

function show(label: string, o: GrpcDriverOutcome): void {
  const l = o.latencyUs;
  process.stderr.write(
    `# ${label}: ${o.model} ${o.achievedRps} calls/s (asked ${o.requestedRps ?? '-'}), ok ${o.requests}, errors ${o.non2xx}+${o.socketErrors}, ` +
      `p50 ${l.p50} p99 ${l.p99} max ${l.max} µs; grpc ${JSON.stringify(o.grpc)}; accounting ${JSON.stringify({ ...o.accounting, schedulerLatenessUs: undefined })}\n`,
  );
}

function assertAccounted(o: GrpcDriverOutcome): void {
  const a = o.accounting;
  assert.equal(a.sent, a.responses + a.lost, 'sent = responses + lost');
  assert.equal(a.responses, a.warmupResponses + o.requests + o.non2xx + a.lateResponses, 'responses by window');
}

describe('gRPC driver against gRPC workload servers (127.0.0.1)', { timeout: 300_000 }, () => {
  const servers: GrpcServerProcess[] = [];
  let fast: GrpcServerProcess;
  let slow: GrpcServerProcess;

  before(async () => {
    [fast, slow] = await Promise.all([startGrpcServerProcess(0, SERVER_PREFIX), startGrpcServerProcess(2000, SERVER_PREFIX)]);
    servers.push(fast, slow);
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    for (const s of servers) assert.throws(() => process.kill(s.pid, 0), `server ${s.pid} still running`);
  });

  it('every call is accounted for, the server counting the same, for both models and methods', async () => {
    for (const model of ['open', 'closed'] as const) {
      for (const method of ['unary', 'stream'] as const) {
        await grpcLocalStats(slow.port, true);
        const o = await runGrpcDriverProcess(
          spec([slow.port], { model, rate: model === 'open' ? 300 : undefined, connections: 2 }, { method, messagesPerStream: 4, streamsPerConnection: 2 }),
          DRIVER_PREFIX,
        );
        show(`${model} ${method}`, o);
        const stats = await grpcLocalStats(slow.port);
        assertAccounted(o);
        assert.equal(o.accounting.lost, 0);
        assert.equal(o.non2xx + o.socketErrors, 0);
        assert.equal(stats.calls, o.accounting.responses, `server answered ${stats.calls}, driver got ${o.accounting.responses}`);
        assert.deepEqual(stats.peers, { '127.0.0.1': o.accounting.responses });
        assert.deepEqual(stats.methods, method === 'unary' ? { unary: stats.calls, stream: 0 } : { unary: 0, stream: stats.calls });
        assert.equal(o.grpc.replies, o.requests * (method === 'unary' ? 1 : 4));
        if (model === 'open') assert.equal(o.accounting.sent + o.accounting.unsent, 750); // 2.5 s at 300/s
      }
    }
  });

  it('a server stopped for 1 s shows in the open model’s tail; timed-out calls are errors, not lost silently', async () => {
    // Stopped 1 s into a 4 s window, timed from the driver's first connection (withServerStall).
    const stall = (s: GrpcLoadSpec, stallMs: number): Promise<GrpcDriverOutcome> =>
      withServerStall(fast, { warmupMs: s.warmupMs, atMs: 1000, stallMs }, () => runGrpcDriverProcess(s, DRIVER_PREFIX));
    const open = await stall(spec([fast.port], { durationMs: 4000, connections: 2 }, { streamsPerConnection: 100 }), 1000);
    show('open, stalled 1 s', open);
    assert.ok(open.latencyUs.p99 >= 500_000, `open p99 ${open.latencyUs.p99} µs hides the stall`);
    assert.ok(open.latencyUs.max >= 900_000, `open max ${open.latencyUs.max} µs`);
    assert.equal(open.non2xx + open.socketErrors, 0);
    assertAccounted(open);
    // A stall longer than the timeout: the calls caught in it are cancelled and counted.
    const timedOut = await stall(spec([fast.port], { durationMs: 4000, connections: 2, timeoutMs: 500 }, { streamsPerConnection: 100 }), 1500);
    show('open, stalled 1.5 s, timeout 0.5 s', timedOut);
    assert.ok(timedOut.grpc.timeouts >= 100, `${timedOut.grpc.timeouts} timeouts`);
    assert.ok(timedOut.socketErrors >= 100, `${timedOut.socketErrors} socket errors`);
    assertAccounted(timedOut);
  });

  it('a rate the server cannot serve is flagged as saturated', async () => {
    // One connection, one call at a time, 2 ms each: at most ~500 calls/s.
    const o = await runGrpcDriverProcess(spec([slow.port], { rate: 1500, connections: 1 }), DRIVER_PREFIX);
    show('saturated', o);
    assert.equal(o.saturated, true);
    assert.ok(o.achievedRps < 0.95 * 1500);
    assert.ok(o.accounting.maxBacklog > 100, `backlog ${o.accounting.maxBacklog}`);
    assert.ok(o.accounting.unsent > 0);
    assertAccounted(o);
  });

  it('weights spread the calls: 9 of 10 to the first target', async () => {
    await Promise.all([grpcLocalStats(fast.port, true), grpcLocalStats(slow.port, true)]);
    const o = await runGrpcDriverProcess(spec([fast.port, slow.port], { rate: 500, connections: 4, weights: [9, 1] }, { streamsPerConnection: 4 }), DRIVER_PREFIX);
    show('weighted 9:1', o);
    const [a, b] = await Promise.all([grpcLocalStats(fast.port), grpcLocalStats(slow.port)]);
    assert.equal(a.calls + b.calls, o.accounting.responses);
    assert.ok(Math.abs(a.calls / (a.calls + b.calls) - 0.9) < 0.01, `${a.calls} : ${b.calls}`);
  });
});
