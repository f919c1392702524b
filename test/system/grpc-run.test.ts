// `meshbench run` of a scenario with both protocols: HTTP/1.1 and gRPC cells side by side
// in one run, and summary.md with one latency table per protocol.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunResult } from '../../harness/results/types.ts';
import { meshbench } from '../cli.ts';
import { assertNothingLeft, requireRoot } from './helpers.ts';


// Short cells (1 s after 500 ms of warm-up): what is checked are counts and the tables'
// shape, which 150 calls per cell show as well as 300.
const BOTH_PROTOCOLS = `
name: system-run-grpc
meshes: [baseline, sidecar]
protocols: [http1, grpc]
services: [1]
workload: { responseBytes: 512, delay: 0ms }
load: { model: open, rate: 150, connections: 2, duration: 1s, warmup: 500ms }
grpc: { method: stream, messagesPerStream: 3 }
probes: []
repeats: 1
`;

/** The rows of the markdown table under `## heading`. */
function tableRows(markdown: string, heading: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(`## ${heading}`);
  assert.ok(start >= 0, `no "## ${heading}" in summary.md:\n${markdown}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('## ')) break;
    if (!line.startsWith('|') || /^\|\s*:?-/.test(line)) continue;
    rows.push(line.slice(1, -1).split(' | ').map((cell) => cell.trim()));
  }
  return rows;
}

describe('meshbench run with HTTP/1.1 and gRPC', () => {
  before(requireRoot);
  after(assertNothingLeft);

  test('both protocols through two data paths; summary.md has one table per protocol', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-run-grpc-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const scenarioPath = join(dir, 'scenario.yaml');
    writeFileSync(scenarioPath, BOTH_PROTOCOLS);
    const out = join(dir, 'runs');
    const exit = await meshbench(['run', scenarioPath, '--out', out, '--json'], { timeoutMs: 240_000 });
    assert.equal(exit.code, 0, exit.stderr);
    const [runId] = readdirSync(out);
    const runDir = join(out, runId!);
    const result = JSON.parse(readFileSync(join(runDir, 'result.json'), 'utf8')) as RunResult;
    assert.equal(result.status, 'complete');
    assert.deepEqual(result.cells.map((c) => c.id).sort(), ['baseline-grpc-s1-r1', 'baseline-http1-s1-r1', 'sidecar-grpc-s1-r1', 'sidecar-http1-s1-r1']);
    for (const cell of result.cells) {
      // the default driver (native) speaks both protocols, and the cell names it
      assert.equal(cell.load.driver, 'native', cell.id);
      assert.ok(cell.load.requests > 0, `${cell.id}: ${cell.load.requests} answered`);
      // the native server answers both protocols by default, and the cell says so
      assert.equal(cell.server?.name, 'meshbench-native-server', cell.id);
      assert.equal(cell.load.non2xx + cell.load.socketErrors, 0, `${cell.id} had errors`);
    }
    // The gRPC cells' figures say what was called; the sidecars counted every call.
    const sidecarGrpc = result.cells.find((c) => c.id === 'sidecar-grpc-s1-r1')!;
    const grpcLoad = sidecarGrpc.load as typeof sidecarGrpc.load & { grpc: { method: string; replies: number } };
    assert.equal(grpcLoad.grpc.method, 'stream');
    assert.equal(grpcLoad.grpc.replies, 3 * sidecarGrpc.load.requests);
    assert.ok(sidecarGrpc.path['client-1/sidecar:outbound']! >= sidecarGrpc.load.requests);

    const summary = readFileSync(join(runDir, 'summary.md'), 'utf8');
    for (const protocol of ['http1', 'grpc']) {
      const [header, ...rows] = tableRows(summary, `${protocol} · 1 service`);
      assert.deepEqual(header!.slice(0, 4), ['mesh', 'p50', 'p90', 'p99']);
      assert.deepEqual(rows.map((r) => r[0]), ['baseline', 'sidecar'], `${protocol} table rows`);
      for (const row of rows) {
        assert.notEqual(row[1], 'no result', `${protocol} ${row[0]}`);
        assert.equal(row[header!.indexOf('errors')], '0', `${protocol} ${row[0]} errors`);
      }
    }
    assert.equal(summary.match(/^## (http1|grpc) · 1 service$/gm)?.length, 2, 'exactly one latency table per protocol');
  });
});
