// Service chains: a request enters service 1, whose server app calls service 2 through the
// mesh before answering, and so on. A chain of 3 runs as a run runs it (runCell) through
// every registered mesh, and the path is proven per hop by counters, exactly: each server
// app counted the driver's requests; with sidecars the client's sidecar and every server
// pod's inbound sidecar saw each request once, every hop but the last's outbound sidecar
// once more (2 × 3 proxy crossings per request); the node proxy's listener of every service
// once (3 traversals); the socket LB or the node's DNAT carried every hop.
//
// Before that, the server app's upstream mode on loopback: the upstream's status is relayed,
// a dead upstream answers 502 and counts an error.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { meshModules } from '../../harness/mesh/index.ts';
import { Haproxy } from '../../harness/proxy/haproxy.ts';
import { runCell } from '../../harness/runner/cell.ts';
import { chainCellId, cellId } from '../../harness/scenario/plan.ts';
import type { MeshName } from '../../harness/scenario/types.ts';
import type { CellResult } from '../../harness/results/types.ts';
import { ensureNativeServer } from '../../harness/workload/servers.ts';
import { assertNothingLeft, requireRoot, testRun, testScenario } from './helpers.ts';

const CHAIN = 3;

/** Starts the native server on 127.0.0.1 (port 0: a free one) and resolves with its port. */
async function nativeServer(args: string[], children: ChildProcess[]): Promise<number> {
  const child = spawn(ensureNativeServer(), ['--host', '127.0.0.1', '--port', '0', '--response-bytes', '64', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('native server: no ready line in 5 s')), 5000);
    createInterface({ input: child.stdout! }).once('line', (l) => (clearTimeout(timer), resolve(l)));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`native server exited ${code}`))));
  });
  return (JSON.parse(line) as { port: number }).port;
}

async function get(port: number, path = '/'): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
  return { status: r.status, text: await r.text() };
}

describe('the server app as a hop of a chain (loopback)', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  });

  test('forwards every counted request, relays the status, answers 502 when the upstream is gone', async () => {
    const last = await nativeServer(['--delay-us', '2000'], children);
    const first = await nativeServer(['--delay-us', '0', '--upstream', `127.0.0.1:${last}`, '--upstream-connections', '2'], children);
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(first)));
    // 10 requests over a pool of 2, each held 2 ms at the last hop: at least 5 rounds of 2 ms.
    assert.ok(performance.now() - started >= 10, 'the pool of 2 connections bounds the requests in flight');
    assert.deepEqual(answers.map((a) => [a.status, a.text.length]), Array(10).fill([200, 64]));
    assert.equal((await get(first, '/_meshbench/status/503')).status, 503);
    const stats = JSON.parse((await get(first, '/_meshbench/stats')).text) as { requests: number; upstream: Record<string, number> };
    assert.equal(stats.requests, 11);
    assert.equal(stats.upstream.requests, 11);
    assert.equal(stats.upstream.responses, 11);
    assert.equal(stats.upstream.errors, 0);
    assert.equal(stats.upstream.connectionsOpened, 2);
    const lastStats = JSON.parse((await get(last, '/_meshbench/stats')).text) as { requests: number };
    assert.equal(lastStats.requests, 11, 'the stats request itself is not forwarded');
    children[0]!.kill('SIGTERM');
    await new Promise((resolve) => children[0]!.once('exit', resolve));
    assert.equal((await get(first)).status, 502);
    const after502 = JSON.parse((await get(first, '/_meshbench/stats')).text) as { upstream: Record<string, number> };
    assert.equal(after502.upstream.errors, 1);
  });
});

describe(`a chain of ${CHAIN} through every mesh, counted per hop`, () => {
  before(requireRoot);
  after(assertNothingLeft);

  const scenario = testScenario(
    { chain: [CHAIN], probes: [] },
    { driver: 'native', rate: 200, connections: 4, durationMs: 1500, warmupMs: 500 },
  );
  const meshes = meshModules().map((m) => m.name);

  for (const mesh of meshes) {
    test(`${mesh}: every hop counted the driver's requests`, async () => {
      const { runId, state } = testRun();
      let cell: CellResult;
      try {
        cell = await runCell(
          { id: chainCellId(cellId(mesh as MeshName, 'http1', 1, 1), CHAIN), mesh: mesh as MeshName, protocol: 'http1', services: 1, chain: CHAIN, repeat: 1, index: 0 },
          { runId, state, proxy: new Haproxy(), scenario, signal: new AbortController().signal },
        );
      } finally {
        state.close();
      }
      assert.ok(!cell.notes.some((note) => note.startsWith('failed')), `the cell failed: ${cell.notes.join('; ')}`);
      const accounting = (cell.load as typeof cell.load & { accounting: { sent: number; responses: number; lost: number } }).accounting;
      const n = accounting.responses;
      assert.ok(n >= 250, `the driver got ${n} responses`);
      assert.equal(accounting.sent, n, 'no request lost');
      assert.equal(cell.load.non2xx + cell.load.socketErrors, 0);
      const path = cell.path;
      for (let hop = 1; hop <= CHAIN; hop++) {
        assert.equal(path[`server-app:s${hop}`], n, `hop ${hop}'s server app`);
        if (hop < CHAIN) assert.equal(path[`server-app-upstream-errors:s${hop}`], 0);
      }
      if (mesh === 'sidecar') {
        assert.equal(path['client-1/sidecar:outbound'], n);
        for (let hop = 1; hop <= CHAIN; hop++) {
          assert.equal(path[`server-${hop}/sidecar:inbound`], n, `server-${hop}'s sidecar inbound`);
          assert.equal(path[`server-${hop}/sidecar:outbound`], hop < CHAIN ? n : 0, `server-${hop}'s sidecar outbound`);
        }
        const crossings = Object.entries(path).filter(([k]) => k.includes('/sidecar:')).reduce((sum, [, v]) => sum + v, 0);
        assert.equal(crossings, 2 * CHAIN * n, '2 × depth proxies per request');
      }
      if (mesh === 'ebpf') {
        for (let hop = 1; hop <= CHAIN; hop++) assert.equal(path[`node-proxy:s${hop}`], n, `the node proxy's listener of s${hop}`);
      }
      if (mesh === 'ebpf' || mesh === 'ebpf-l4') {
        // The client's connections and every hop's pool connections were rewritten at connect().
        for (let hop = 1; hop <= CHAIN; hop++) assert.ok((path[`bpf-connect4-rewrites:198.19.0.${hop}:80`] ?? 0) >= 1, `connect4 rewrote s${hop}`);
      }
      if (mesh === 'baseline') {
        for (let hop = 1; hop <= CHAIN; hop++) assert.ok((path[`dnat-connections:s${hop}`] ?? 0) >= 1, `the node DNATed connections to s${hop}`);
      }
    });
  }
});
