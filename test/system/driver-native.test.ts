// The native driver (native/build/driver) against real workload servers on 127.0.0.1:
// every request accounted for against the server's own count (HTTP/1.1 and gRPC, open and
// closed, unary and stream), non-2xx and non-OK grpc-status counted as errors, timeouts,
// weights, saturation, abort and a crash mid-run. Servers on CPU 1, the driver on CPU 0 (as
// the harness places them) when the host has two CPUs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { GrpcDriverOutcome } from '../../harness/load/grpcDriver.ts';
import type { GrpcLoadSpec } from '../../harness/load/grpcSpec.ts';
import { decodeHistogram, summarizeLatencyUs } from '../../harness/load/histogram.ts';
import { NATIVE_DRIVER_PATH, ensureNativeDriver, runNativeDriverProcess } from '../../harness/load/native.ts';
import { DriverProcessError } from '../../harness/load/process.ts';
import type { DriverOutcome, LoadSpec } from '../../harness/load/types.ts';
import { fetchWorkloadStats, startWorkloadProcess, type WorkloadProcess } from '../../harness/workload/process.ts';
import { grpcLocalStats, startGrpcServerProcess, type GrpcServerProcess } from './grpc-helpers.ts';

const HOST = '127.0.0.1';
const twoCpus = cpus().length >= 2;
const SERVER_PREFIX = twoCpus ? ['taskset', '-c', '1'] : [];
const DRIVER_PREFIX = twoCpus ? ['taskset', '-c', '0'] : [];

function spec(port: number, over: Partial<LoadSpec> = {}): LoadSpec {
  return { targets: [{ host: HOST, port, path: '/' }], model: 'open', rate: 500, connections: 4, durationMs: 2000, warmupMs: 500, ...over };
}

function grpcSpec(ports: number[], over: Partial<GrpcLoadSpec> = {}, grpc: Partial<GrpcLoadSpec['grpc']> = {}): GrpcLoadSpec {
  return {
    targets: ports.map((port) => ({ host: HOST, port, path: '/' })),
    model: 'open',
    rate: 300,
    connections: 2,
    durationMs: 2000,
    warmupMs: 500,
    ...over,
    grpc: { method: 'unary', messagesPerStream: 1, streamsPerConnection: 2, ...grpc },
  };
}

function show(label: string, o: DriverOutcome): void {
  const l = o.latencyUs;
  const s = o.accounting.schedulerLatenessUs;
  process.stderr.write(
    `# ${label}: ${o.model} ${o.achievedRps} req/s (asked ${o.requestedRps ?? '-'}), ok ${o.requests}, non2xx ${o.non2xx}, errors ${o.socketErrors}, ` +
      `p50 ${l.p50} p99 ${l.p99} p99.9 ${l.p999} max ${l.max} µs` +
      (s ? `; scheduler lateness p50 ${s.p50} p99 ${s.p99} max ${s.max} µs` : '') +
      `; accounting ${JSON.stringify({ ...o.accounting, schedulerLatenessUs: undefined })}` +
      ('grpc' in o ? `; grpc ${JSON.stringify((o as GrpcDriverOutcome).grpc)}` : '') +
      '\n',
  );
}

function assertAccounted(o: DriverOutcome): void {
  const a = o.accounting;
  assert.equal(a.sent, a.responses + a.lost, 'sent = responses + lost');
  assert.equal(a.responses, a.warmupResponses + o.requests + o.non2xx + a.lateResponses, 'responses by window');
  // The histogram is the driver's own figures, as hdr-histogram-js reads it.
  assert.deepEqual(summarizeLatencyUs(decodeHistogram(o.histogram!)).p99, o.latencyUs.p99);
  assert.equal(decodeHistogram(o.histogram!).totalCount, o.latencyUs.count);
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('native driver against workload servers (127.0.0.1)', { timeout: 280_000 }, () => {
  let fast: WorkloadProcess;
  let slow: WorkloadProcess;
  let grpcFast: GrpcServerProcess;
  let grpcSlow: GrpcServerProcess;

  before(async () => {
    ensureNativeDriver();
    [fast, slow, grpcFast, grpcSlow] = await Promise.all([
      startWorkloadProcess({ host: HOST, port: 0, responseBytes: 1024, delayUs: 0, spawnPrefix: SERVER_PREFIX }),
      startWorkloadProcess({ host: HOST, port: 0, responseBytes: 1024, delayUs: 2000, spawnPrefix: SERVER_PREFIX }),
      startGrpcServerProcess(0, SERVER_PREFIX),
      startGrpcServerProcess(2000, SERVER_PREFIX),
    ]);
  });

  after(async () => {
    await Promise.all([fast?.stop(), slow?.stop(), grpcFast?.stop(), grpcSlow?.stop()]);
    for (const p of [fast, slow, grpcFast, grpcSlow]) if (p) assert.ok(gone(p.pid), `server ${p.pid} still running`);
  });

  it('HTTP/1.1: every request is accounted for, the server counting the same, open and closed', async () => {
    for (const model of ['open', 'closed'] as const) {
      await fetchWorkloadStats(HOST, slow.port, true);
      const o = await runNativeDriverProcess(spec(slow.port, { model, rate: model === 'open' ? 500 : undefined }), DRIVER_PREFIX);
      show(`http1 ${model}`, o);
      const stats = await fetchWorkloadStats(HOST, slow.port);
      assert.equal(o.driver, 'native');
      assert.match(o.driverVersion ?? '', /^meshbench-native\/\d+ nghttp2\//);
      assertAccounted(o);
      assert.equal(o.accounting.lost, 0);
      assert.equal(o.non2xx + o.socketErrors, 0);
      assert.equal(stats.requests, o.accounting.responses, `server saw ${stats.requests}, driver got ${o.accounting.responses}`);
      assert.deepEqual(stats.peers, { [HOST]: o.accounting.responses });
      assert.ok(o.latencyUs.p50 >= 2000 && o.latencyUs.p50 < 3000, `p50 ${o.latencyUs.p50} µs of a 2 ms server`);
      if (model === 'open') {
        assert.equal(o.accounting.sent + o.accounting.unsent, 1250); // 2.5 s at 500/s
        assert.ok(o.accounting.schedulerLatenessUs!.count > 0);
        assert.equal(o.saturated, false);
      } else {
        // 4 connections, one request each at a time, 2 ms apiece: ~2000 req/s at most.
        assert.ok(o.achievedRps > 1000 && o.achievedRps < 2100, `closed ${o.achievedRps} req/s`);
        assert.equal(o.accounting.connectionsOpened, 4);
      }
    }
  });

  it('HTTP/1.1: non-2xx responses are counted as such', async () => {
    await fetchWorkloadStats(HOST, fast.port, true);
    const o = await runNativeDriverProcess({ ...spec(fast.port, { rate: 300 }), targets: [{ host: HOST, port: fast.port, path: '/_meshbench/status/503' }] }, DRIVER_PREFIX);
    show('status 503', o);
    const stats = await fetchWorkloadStats(HOST, fast.port);
    assert.equal(o.requests, 0);
    assert.ok(Math.abs(o.non2xx - 600) <= 60, `non2xx ${o.non2xx}`);
    assert.equal(o.latencyUs.count, o.non2xx);
    assert.equal(o.accounting.sent + o.accounting.unsent, 750);
    assert.equal(stats.requests, o.accounting.responses);
    assertAccounted(o);
  });

  it('HTTP/1.1: timeouts are socket errors and their requests lost; every request still accounted for', async () => {
    const stop = setTimeout(() => process.kill(fast.pid, 'SIGSTOP'), 1_500);
    const cont = setTimeout(() => process.kill(fast.pid, 'SIGCONT'), 3_000);
    let o: DriverOutcome;
    try {
      o = await runNativeDriverProcess(spec(fast.port, { rate: 100, durationMs: 4000, warmupMs: 500, timeoutMs: 500 }), DRIVER_PREFIX);
    } finally {
      clearTimeout(stop);
      clearTimeout(cont);
      process.kill(fast.pid, 'SIGCONT');
    }
    show('timeouts', o);
    assert.ok((o.accounting.timeouts ?? 0) >= 4, `timeouts ${o.accounting.timeouts}`);
    assert.ok(o.socketErrors >= o.accounting.timeouts!, `socket errors ${o.socketErrors}`);
    assert.ok(o.accounting.lost > 0);
    assert.equal(o.accounting.sent + o.accounting.unsent, 450);
    assertAccounted(o);
  });

  it('HTTP/1.1: weights spread the requests (9 : 1), a rate the server cannot serve is saturated', async () => {
    await Promise.all([fetchWorkloadStats(HOST, fast.port, true), fetchWorkloadStats(HOST, slow.port, true)]);
    const o = await runNativeDriverProcess(
      { ...spec(fast.port, { rate: 500 }), targets: [{ host: HOST, port: fast.port }, { host: HOST, port: slow.port }], weights: [9, 1] },
      DRIVER_PREFIX,
    );
    show('weighted 9:1', o);
    const [a, b] = await Promise.all([fetchWorkloadStats(HOST, fast.port), fetchWorkloadStats(HOST, slow.port)]);
    assert.equal(a.requests + b.requests, o.accounting.responses);
    assert.ok(Math.abs(a.requests / (a.requests + b.requests) - 0.9) < 0.01, `${a.requests} : ${b.requests}`);
    const saturated = await runNativeDriverProcess(spec(slow.port, { rate: 20_000 }), DRIVER_PREFIX);
    show('20k asked of a 2 ms server', saturated);
    assert.equal(saturated.saturated, true);
    assert.ok(saturated.achievedRps < 2100);
    assert.ok(saturated.accounting.unsent > 30_000, `unsent ${saturated.accounting.unsent}`);
    assert.ok(saturated.latencyUs.p50 > 100_000, `p50 ${saturated.latencyUs.p50} µs: latency runs from the intended send time`);
    assertAccounted(saturated);
  });

  it('gRPC: every call is accounted for against the server, both models and methods, grpc-status read', async () => {
    for (const model of ['open', 'closed'] as const) {
      for (const method of ['unary', 'stream'] as const) {
        await grpcLocalStats(grpcSlow.port, true);
        const o = await runNativeDriverProcess(
          grpcSpec([grpcSlow.port], { model, rate: model === 'open' ? 300 : undefined }, { method, messagesPerStream: 4 }),
          DRIVER_PREFIX,
        );
        show(`grpc ${model} ${method}`, o);
        const stats = await grpcLocalStats(grpcSlow.port);
        assertAccounted(o);
        assert.equal(o.driver, 'native');
        assert.equal(o.accounting.lost, 0);
        assert.equal(o.non2xx + o.socketErrors, 0);
        assert.equal(stats.calls, o.accounting.responses, `server answered ${stats.calls}, driver got ${o.accounting.responses}`);
        assert.deepEqual(stats.methods, method === 'unary' ? { unary: stats.calls, stream: 0 } : { unary: 0, stream: stats.calls });
        assert.deepEqual(o.grpc.statuses, { 0: o.requests });
        assert.equal(o.grpc.replies, o.requests * (method === 'unary' ? 1 : 4));
        assert.ok(o.latencyUs.p50 >= 2000, `p50 ${o.latencyUs.p50} µs of a 2 ms server`);
        if (model === 'open') assert.equal(o.accounting.sent + o.accounting.unsent, 750);
      }
    }
  });

  it('gRPC: a non-OK grpc-status is an error answer, counted by status', async () => {
    const o = await runNativeDriverProcess(grpcSpec([grpcFast.port], {}, { answerStatus: 13 }), DRIVER_PREFIX);
    show('grpc-status 13', o);
    assert.equal(o.requests, 0);
    assert.ok(o.non2xx > 500, `non2xx ${o.non2xx}`);
    assert.deepEqual(o.grpc.statuses, { 13: o.non2xx });
    assertAccounted(o);
  });

  it('gRPC: a stall longer than the timeout cancels and counts the calls caught in it; weights spread the calls', async () => {
    const stop = setTimeout(() => process.kill(grpcFast.pid, 'SIGSTOP'), 1_500);
    const cont = setTimeout(() => process.kill(grpcFast.pid, 'SIGCONT'), 3_000);
    let o: GrpcDriverOutcome;
    try {
      o = await runNativeDriverProcess(grpcSpec([grpcFast.port], { rate: 200, durationMs: 4000, timeoutMs: 500 }, { streamsPerConnection: 100 }), DRIVER_PREFIX);
    } finally {
      clearTimeout(stop);
      clearTimeout(cont);
      process.kill(grpcFast.pid, 'SIGCONT');
    }
    show('grpc stalled 1.5 s, timeout 0.5 s', o);
    assert.ok(o.grpc.timeouts >= 100, `${o.grpc.timeouts} timeouts`);
    assert.ok(o.socketErrors >= 100, `${o.socketErrors} socket errors`);
    assertAccounted(o);
    await Promise.all([grpcLocalStats(grpcFast.port, true), grpcLocalStats(grpcSlow.port, true)]);
    const w = await runNativeDriverProcess(grpcSpec([grpcFast.port, grpcSlow.port], { rate: 500, connections: 4, weights: [9, 1] }, { streamsPerConnection: 4 }), DRIVER_PREFIX);
    show('grpc weighted 9:1', w);
    const [a, b] = await Promise.all([grpcLocalStats(grpcFast.port), grpcLocalStats(grpcSlow.port)]);
    assert.equal(a.calls + b.calls, w.accounting.responses);
    assert.ok(Math.abs(a.calls / (a.calls + b.calls) - 0.9) < 0.01, `${a.calls} : ${b.calls}`);
  });

  it('HTTP/1.1 framing: chunked bodies, and servers that close after each response (no errors, every answer counted)', async () => {
    let answered = 0;
    const server = http.createServer((req, res) => {
      answered++;
      if (req.url === '/close') res.setHeader('connection', 'close');
      // No Content-Length: Node sends chunked, in three chunks here.
      res.write('x'.repeat(300));
      res.write('y'.repeat(300));
      res.end('z'.repeat(424));
    });
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const path of ['/', '/close']) {
        answered = 0;
        const o = await runNativeDriverProcess({ ...spec(port, { rate: 200, durationMs: 1000 }), targets: [{ host: HOST, port, path }] }, DRIVER_PREFIX);
        show(`node http ${path}`, o);
        assert.equal(o.non2xx + o.socketErrors, 0);
        assert.equal(o.accounting.lost, 0);
        assert.equal(o.accounting.responses, answered);
        assert.equal(o.accounting.sent + o.accounting.unsent, 300);
        if (path === '/close') assert.ok(o.accounting.connectionsOpened! > 100, `${o.accounting.connectionsOpened} connections for ${answered} answers`);
        else assert.equal(o.accounting.connectionsOpened, 4);
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('prints the measure phase, then exactly one result line', async () => {
    const argv = [...DRIVER_PREFIX, NATIVE_DRIVER_PATH, JSON.stringify(spec(fast.port, { model: 'closed', rate: undefined, durationMs: 1000 }))];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 2, stdout);
    assert.deepEqual(JSON.parse(lines[0]!), { phase: 'measure' });
    assert.ok((JSON.parse(lines[1]!) as DriverOutcome).requests > 0);
  });

  it('stops when aborted, and says so; a bad spec is refused with its field', async () => {
    const abort = new AbortController();
    let pid = 0;
    const run = runNativeDriverProcess(spec(fast.port, { durationMs: 20_000 }), DRIVER_PREFIX, { signal: abort.signal, onSpawn: (p) => (pid = p) });
    setTimeout(() => abort.abort(), 1_000);
    const t0 = performance.now();
    await assert.rejects(run, /native load driver failed: load aborted/);
    assert.ok(performance.now() - t0 < 4_000);
    assert.ok(pid > 0 && gone(pid), `driver ${pid} still running`);
    await assert.rejects(runNativeDriverProcess({ ...spec(fast.port), connections: 0 }, DRIVER_PREFIX), /connections/);
  });

  it('a driver that dies mid-run: the error carries the signal and the stderr tail', async () => {
    let pid = 0;
    const run = runNativeDriverProcess(spec(fast.port, { durationMs: 20_000 }), DRIVER_PREFIX, { onSpawn: (p) => (pid = p) });
    setTimeout(() => process.kill(pid, 'SIGKILL'), 1_000);
    const err = await run.then(
      () => assert.fail('a killed driver returned an outcome'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DriverProcessError, String(err));
    assert.equal(err.signal, 'SIGKILL');
    assert.equal(err.exitCode, null);
    assert.match(err.message, /killed by SIGKILL/);
  });
});
