// The native workload server (native/server.c) as a process on 127.0.0.1, pinned to CPU 1
// (clients on CPU 0) when the host has two: exact counts by peer, the stats reset, the
// status path, the delay's known answer, concurrent delayed requests that do not wait for
// each other, gRPC unary and streaming calls through the gRPC driver and grpc-js, and
// malformed input that does not kill it.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { cpus } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { runGrpcDriverProcess } from '../../harness/load/grpcProcess.ts';
import type { GrpcLoadSpec } from '../../harness/load/grpcSpec.ts';
import { fetchWorkloadStats, startWorkloadProcess, type WorkloadProcess } from '../../harness/workload/process.ts';
import { NATIVE_SERVER_PATH, ensureNativeServer } from '../../harness/workload/servers.ts';
import { grpcLocalStats } from './grpc-helpers.ts';
import { run } from '../../harness/exec.ts';
import { fileURLToPath } from 'node:url';
import { TSX_LOADER as TSX } from '../../harness/tsx.ts';

const twoCpus = cpus().length >= 2;
const SERVER_PREFIX = twoCpus ? ['taskset', '-c', '1'] : [];
const CLIENT_PREFIX = twoCpus ? ['taskset', '-c', '0'] : [];
const HOST = '127.0.0.1';
const POD_CLIENT = fileURLToPath(new URL('./grpcPodClient.ts', import.meta.url));

/** One keep-alive connection speaking raw HTTP/1.1: exact bytes out, responses parsed by Content-Length. */
class RawClient {
  private buffer = Buffer.alloc(0);
  private waiting: Array<(r: { status: number; body: Buffer; atNs: bigint }) => void> = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.drain();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
  }

  static connect(port: number, localAddress = HOST): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: HOST, port, localAddress }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  private drain(): void {
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0 || this.waiting.length === 0) return;
      const head = this.buffer.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buffer.length < end + 4 + length) return;
      const status = Number(head.slice(9, 12));
      const body = this.buffer.subarray(end + 4, end + 4 + length);
      this.buffer = this.buffer.subarray(end + 4 + length);
      this.waiting.shift()!({ status, body, atNs: process.hrtime.bigint() });
    }
  }

  /** Writes `requests` (raw) and resolves with `count` responses, each with its arrival time. */
  send(raw: string | Buffer, count = 1): Promise<Array<{ status: number; body: Buffer; atNs: bigint }>> {
    const all = Array.from({ length: count }, () => new Promise<{ status: number; body: Buffer; atNs: bigint }>((r) => this.waiting.push(r)));
    this.socket.write(raw);
    return Promise.all(all);
  }

  async get(path: string): Promise<{ status: number; body: Buffer; latencyUs: number }> {
    const t0 = process.hrtime.bigint();
    const [r] = await this.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    return { ...r!, latencyUs: Number(r!.atNs - t0) / 1000 };
  }

  close(): void {
    this.socket.destroy();
  }
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

describe('native workload server (127.0.0.1)', { timeout: 300_000 }, () => {
  const servers: WorkloadProcess[] = [];
  let plain: WorkloadProcess;
  let delayed: WorkloadProcess;

  before(async () => {
    ensureNativeServer();
    [plain, delayed] = await Promise.all([
      startWorkloadProcess({ host: HOST, port: 0, responseBytes: 1024, delayUs: 0, server: 'native', spawnPrefix: SERVER_PREFIX }),
      startWorkloadProcess({ host: HOST, port: 0, responseBytes: 100, delayUs: 2000, server: 'native', spawnPrefix: SERVER_PREFIX }),
    ]);
    servers.push(plain, delayed);
  });

  after(async () => {
    for (const s of servers) {
      await s.stop();
      assert.equal(await s.exited, 0, `server ${s.pid} exit code; stderr: ${s.stderr()}`);
      assert.throws(() => process.kill(s.pid, 0), `server ${s.pid} still running`);
    }
  });

  it('counts every request exactly, by peer address; reset zeroes the counters', async () => {
    await fetchWorkloadStats(HOST, plain.port, true);
    const a = await RawClient.connect(plain.port, '127.0.0.1');
    const b = await RawClient.connect(plain.port, '127.0.0.2');
    for (let i = 0; i < 37; i++) assert.equal((await a.get('/')).status, 200);
    // 23 pipelined in one write: answered in order, each exactly 1024 bytes
    const pipelined = await b.send('GET /x HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(23), 23);
    assert.deepEqual(new Set(pipelined.map((r) => `${r.status}/${r.body.length}`)), new Set(['200/1024']));
    assert.ok(pipelined.every((r) => r.body.every((byte) => byte === 0x78)), 'the body is 1024 × "x"');
    a.close();
    b.close();
    const stats = await fetchWorkloadStats(HOST, plain.port);
    assert.equal(stats.requests, 60);
    assert.deepEqual(stats.peers, { '127.0.0.1': 37, '127.0.0.2': 23 });
    const again = await fetchWorkloadStats(HOST, plain.port, true);
    assert.equal(again.requests, 60, 'the stats call itself is not counted');
    const zero = await fetchWorkloadStats(HOST, plain.port);
    assert.equal(zero.requests, 0);
    assert.deepEqual(zero.peers, {});
    assert.equal((zero as unknown as { server: { name: string } }).server.name, 'meshbench-native-server');
  });

  it('answers /_meshbench/status/NNN with that status and the same body, counted as a request', async () => {
    await fetchWorkloadStats(HOST, plain.port, true);
    const c = await RawClient.connect(plain.port);
    const r = await c.get('/_meshbench/status/503');
    assert.equal(r.status, 503);
    assert.equal(r.body.length, 1024);
    assert.equal((await c.get('/_meshbench/status/404')).status, 404);
    // a 1xx cannot end a request: read as a bad request, still counted
    assert.equal((await c.get('/_meshbench/status/101')).status, 400);
    assert.equal((await c.get('/_meshbench/statusx')).status, 200);
    c.close();
    assert.equal((await fetchWorkloadStats(HOST, plain.port)).requests, 4);
  });

  it('known answer: 2 ms of delay shows as 2 ms at the p50 (≥ 2 ms, within 5 %), the server’s own error a few µs', async () => {
    await fetchWorkloadStats(HOST, delayed.port, true);
    const slow = await RawClient.connect(delayed.port);
    const fast = await RawClient.connect(plain.port);
    const slowUs: number[] = [];
    const fastUs: number[] = [];
    for (let i = 0; i < 300; i++) {
      slowUs.push((await slow.get('/')).latencyUs);
      fastUs.push((await fast.get('/')).latencyUs);
    }
    slow.close();
    fast.close();
    const p50 = percentile(slowUs, 50);
    const added = p50 - percentile(fastUs, 50);
    process.stderr.write(`# delayed p50 ${p50.toFixed(0)} µs, undelayed p50 ${percentile(fastUs, 50).toFixed(0)} µs, added ${added.toFixed(0)} µs\n`);
    assert.ok(p50 >= 2000, `p50 ${p50} µs < the 2000 µs asked`);
    assert.ok(Math.abs(added - 2000) <= 100, `added ${added} µs, not 2000 ± 5 %`);
    const stats = await fetchWorkloadStats(HOST, delayed.port);
    const error = stats.delay.errorUs;
    process.stderr.write(`# server delay error ${JSON.stringify(stats.delay)}\n`);
    assert.equal(error.count, 300);
    assert.equal(stats.delay.delayUs, 2000);
    assert.ok(error.p50 <= 50, `delay error p50 ${error.p50} µs`);
  });

  it('many concurrent delayed requests do not wait for each other', async () => {
    // 100 connections, one request each, all at once; then 100 pipelined on one connection.
    // Served one after another they would take ≥ 200 ms; each keeps its own 2 ms deadline.
    await fetchWorkloadStats(HOST, delayed.port, true);
    const clients = await Promise.all(Array.from({ length: 100 }, () => RawClient.connect(delayed.port)));
    const t0 = process.hrtime.bigint();
    const answers = await Promise.all(clients.map((c) => c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n')));
    const spanMs = Number(process.hrtime.bigint() - t0) / 1e6;
    for (const c of clients) c.close();
    assert.ok(answers.every(([r]) => r!.status === 200));
    const one = await RawClient.connect(delayed.port);
    const t1 = process.hrtime.bigint();
    const piped = await one.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(100), 100);
    const pipedMs = Number(process.hrtime.bigint() - t1) / 1e6;
    one.close();
    process.stderr.write(`# 100 concurrent delayed requests: ${spanMs.toFixed(1)} ms; 100 pipelined: ${pipedMs.toFixed(1)} ms\n`);
    assert.equal(piped.length, 100);
    assert.ok(spanMs >= 2 && spanMs < 60, `100 concurrent 2 ms requests took ${spanMs} ms`);
    assert.ok(pipedMs >= 2 && pipedMs < 60, `100 pipelined 2 ms requests took ${pipedMs} ms`);
    const stats = await fetchWorkloadStats(HOST, delayed.port);
    assert.equal(stats.requests, 200);
    assert.equal(stats.delay.errorUs.count, 200);
  });

  it('serves gRPC unary and streaming calls to the gRPC driver, counted as the driver counts them', async () => {
    for (const method of ['unary', 'stream'] as const) {
      await grpcLocalStats(delayed.port, true);
      const spec: GrpcLoadSpec = {
        targets: [{ host: HOST, port: delayed.port, path: '/' }],
        model: 'open',
        rate: 300,
        connections: 2,
        durationMs: 2000,
        warmupMs: 500,
        grpc: { method, messagesPerStream: 4, streamsPerConnection: 4 },
      };
      const o = await runGrpcDriverProcess(spec, CLIENT_PREFIX);
      const stats = await grpcLocalStats(delayed.port);
      process.stderr.write(`# gRPC ${method}: ${o.requests} ok, p50 ${o.latencyUs.p50} µs; server ${stats.calls} calls, delay error p50 ${stats.delay.errorUs.p50} µs\n`);
      assert.equal(o.non2xx + o.socketErrors, 0);
      assert.equal(o.accounting.lost, 0);
      assert.equal(stats.calls, o.accounting.responses);
      assert.deepEqual(stats.peers, { [HOST]: o.accounting.responses });
      assert.deepEqual(stats.methods, method === 'unary' ? { unary: stats.calls, stream: 0 } : { unary: 0, stream: stats.calls });
      assert.deepEqual(stats.statuses, { 0: stats.calls });
      assert.equal(stats.replies, stats.calls * (method === 'unary' ? 1 : 4));
      assert.equal(o.grpc.replies, o.requests * (method === 'unary' ? 1 : 4));
      assert.ok(o.latencyUs.p50 >= 2000, `gRPC p50 ${o.latencyUs.p50} µs under the 2 ms delay`);
    }
  });

  it('answers grpc-js: replies of the response size, and the grpc-status a request asks for', async () => {
    await grpcLocalStats(delayed.port, true);
    const call = async (...args: string[]) => {
      const r = await run(process.execPath, ['--import', TSX, POD_CLIENT, 'calls', `${HOST}:${delayed.port}`, ...args], { timeoutMs: 60_000 });
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
        grpcJs: Array<{ code: number; replies: number; bytes: number }>;
        meshbench: { calls: Array<{ status: string; replies: number }> };
      };
    };
    const unary = await call('--count', '3');
    assert.deepEqual(unary.grpcJs, Array(3).fill({ code: 0, replies: 1, bytes: 100 }));
    const stream = await call('--count', '2', '--method', 'stream', '--messages', '5');
    assert.deepEqual(stream.grpcJs, Array(2).fill({ code: 0, replies: 5, bytes: 500 }));
    const failing = await call('--count', '2', '--status', '13');
    assert.deepEqual(failing.grpcJs, Array(2).fill({ code: 13, replies: 0, bytes: 0 }));
    assert.deepEqual(failing.meshbench.calls, Array(2).fill({ status: '13', replies: 0 }));
    const stats = await grpcLocalStats(delayed.port);
    // each `calls` run makes its calls with grpc-js and again with the driver's HTTP/2 client
    assert.equal(stats.calls, 14);
    assert.deepEqual(stats.statuses, { 0: 10, 13: 4 });
    assert.deepEqual(stats.methods, { unary: 10, stream: 4 });
    assert.equal(stats.replies, 6 + 20);
  });

  it('answers an unknown gRPC method UNIMPLEMENTED and a malformed request INTERNAL, without counting them as calls', async () => {
    await grpcLocalStats(plain.port, true);
    const client = new grpc.Client(`${HOST}:${plain.port}`, grpc.credentials.createInsecure());
    const identity = (b: Buffer): Buffer => b;
    const call = (path: string, request: Buffer): Promise<number> =>
      new Promise((resolve) =>
        client.makeUnaryRequest(path, identity, identity, request, { deadline: new Date(Date.now() + 3000) }, (err) => resolve(err?.code ?? 0)),
      );
    try {
      assert.equal(await call('/meshbench.v1.Bench/Nope', Buffer.alloc(0)), grpc.status.UNIMPLEMENTED);
      assert.equal(await call('/meshbench.v1.Bench/Unary', Buffer.from([0xff, 0xff, 0xff])), grpc.status.INTERNAL);
      assert.equal(await call('/meshbench.v1.Bench/Unary', Buffer.alloc(0)), grpc.status.OK);
    } finally {
      client.close();
    }
    const stats = await grpcLocalStats(plain.port);
    assert.equal(stats.calls, 1);
    assert.deepEqual(stats.statuses, { 0: 1 });
  });

  it('survives malformed input and connection floods, answering the next client as before', async () => {
    const target = await startWorkloadProcess({ host: HOST, port: 0, responseBytes: 64, delayUs: 0, server: 'native', spawnPrefix: SERVER_PREFIX });
    servers.push(target);
    const port = target.port;
    /** The statuses the server answered `raw` with, in order, until it closed (or 2 s). */
    const statusesOf = async (raw: string | Buffer): Promise<number[]> => {
      const c = await RawClient.connect(port);
      const reply = new Promise<string>((resolve) => {
        let text = '';
        c.socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        c.socket.once('close', () => resolve(text));
        setTimeout(() => resolve(text), 2000);
      });
      c.socket.write(raw);
      const text = await reply;
      c.close();
      return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    };
    const cases: Array<[string, string | Buffer, number[]]> = [
      ['garbage', '\x00\x01\x02 not http at all\r\n\r\n', [400]],
      ['no version', 'GET /\r\n\r\n', [400]],
      ['HTTP/2.0 in an HTTP/1 line', 'GET / HTTP/2.0\r\n\r\n', [400]],
      ['header without a colon', 'GET / HTTP/1.1\r\nHost x\r\n\r\n', [400]],
      ['folded header', 'GET / HTTP/1.1\r\nHost: x\r\n  folded\r\n\r\n', [400]],
      ['two different Content-Lengths', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', [400]],
      ['Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', [400]],
      ['an unknown transfer coding', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', [501]],
      ['a body over 1 MiB', 'POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n', [413]],
      ['a head over 16 KiB', `GET / HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`, [431]],
      ['a bad chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', [200, 400]],
      ['HTTP/2 preface, then garbage', Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.alloc(64, 0xff)]), []],
      ['half an HTTP/2 preface', 'PRI * HTTP/2.0\r\n', []],
    ];
    // (A request is answered as soon as its head is in, as Node does: a bad body after a
    // good head gets the answer, then 400 and the close.)
    for (const [name, raw, expected] of cases) assert.deepEqual(await statusesOf(raw), expected, name);
    // A chunked POST and a Content-Length POST are read and answered; the connection stays.
    const c = await RawClient.connect(port);
    const [chunked] = await c.send('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    const [sized] = await c.send('POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc');
    const [headOnly] = await c.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    assert.deepEqual([chunked!.status, sized!.status, headOnly!.status], [200, 200, 200]);
    c.close();
    // Random bytes on 20 connections at once, then 300 connections opened and dropped.
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const s = await RawClient.connect(port);
        s.socket.write(Buffer.from(Array.from({ length: 4096 }, (_, j) => (i * 7919 + j * 104729) % 256)));
        await new Promise((r) => setTimeout(r, 50));
        s.close();
      }),
    );
    const flood = await Promise.all(Array.from({ length: 300 }, () => RawClient.connect(port).catch(() => undefined)));
    for (const s of flood) s?.close();
    const stats = await fetchWorkloadStats(HOST, port);
    assert.ok((stats as unknown as { badRequests: number }).badRequests >= 11, `badRequests ${JSON.stringify(stats)}`);
    const after = await RawClient.connect(port);
    assert.equal((await after.get('/')).status, 200);
    after.close();
    process.kill(target.pid, 0); // still running
  });

  it('holds a client that pipelines without reading to bounded memory, then answers it all in order', async () => {
    const big = await startWorkloadProcess({ host: HOST, port: 0, responseBytes: 16 * 1024, delayUs: 0, server: 'native', spawnPrefix: SERVER_PREFIX });
    servers.push(big);
    await fetchWorkloadStats(HOST, big.port, true);
    const c = await RawClient.connect(big.port);
    c.socket.pause(); // read nothing for now
    const count = 5000; // 80 MB of answers asked for
    const answers = c.send(Array.from({ length: count }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''), count);
    await new Promise((r) => setTimeout(r, 1500));
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${big.pid}/status`, 'utf8'))![1]);
    c.socket.resume();
    const all = await answers;
    c.close();
    process.stderr.write(`# server RSS with ${count} pipelined 16 KiB answers unread: ${(rssKb / 1024).toFixed(1)} MiB\n`);
    assert.ok(rssKb < 48 * 1024, `server RSS ${rssKb} KiB while a client did not read`);
    assert.equal(all.length, count);
    assert.ok(all.every((r) => r.status === 200 && r.body.length === 16 * 1024));
    assert.equal((await fetchWorkloadStats(HOST, big.port)).requests, count);
  });

  it('refuses connections beyond --max-connections, and exits 0 on SIGTERM', async () => {
    const child = spawn(NATIVE_SERVER_PATH, ['--host', HOST, '--port', '0', '--max-connections', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      const line = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
      const port = (JSON.parse(line) as { port: number }).port;
      const held = await Promise.all([0, 1, 2].map(() => RawClient.connect(port)));
      for (const h of held) assert.equal((await h.get('/')).status, 200);
      const extra = await RawClient.connect(port);
      await Promise.race([extra.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the 4th connection was not closed')), 3000))]);
      for (const h of held) h.close();
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad command line with every problem, exit 2', async () => {
    const r = await run(NATIVE_SERVER_PATH, ['--port', '70000', '--response-bytes', '-1', '--delay-us', 'x'], { timeoutMs: 5000, allowFailure: true });
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /--port: must be 0–65535, got 70000/);
    assert.match(r.stderr, /--response-bytes/);
    assert.match(r.stderr, /--delay-us/);
  });
});
