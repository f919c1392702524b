// The whole program as a user runs it: `meshbench run` of a small scenario through all four
// data paths, an interrupted run, and bad input that creates nothing.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { RunResult } from '../../harness/results/types.ts';
import { meshbench } from '../cli.ts';
import { assertNothingLeft, requireRoot } from './helpers.ts';


function scenarioFile(dir: string, yaml: string): string {
  const path = join(dir, 'scenario.yaml');
  writeFileSync(path, yaml);
  return path;
}

// Cells of 1.5 s after 500 ms of warm-up, as the other functional system tests run them:
// enough for every probe to report (dwell samples 1/10 of each second) and nothing more.
const SMALL = `
name: system-run
meshes: [baseline, sidecar, ebpf, ebpf-l4]
services: [1]
workload: { responseBytes: 512, delay: 0ms }
load: { model: open, rate: 150, connections: 2, duration: 1500ms, warmup: 500ms }
repeats: 1
`;

describe('meshbench run', () => {
  before(requireRoot);
  after(assertNothingLeft);

  test('runs all four data paths and writes cells.jsonl, result.json and summary.md', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-run-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'runs');
    const exit = await meshbench(['run', scenarioFile(dir, SMALL), '--out', out, '--json']);
    assert.equal(exit.code, 0, exit.stderr);
    const printed = JSON.parse(exit.stdout) as RunResult;
    const [runId] = readdirSync(out);
    assert.equal(printed.runId, runId);
    const runDir = join(out, runId!);
    const result = JSON.parse(readFileSync(join(runDir, 'result.json'), 'utf8')) as RunResult;
    assert.equal(result.schema, 'meshbench/result@1');
    const summary = readFileSync(join(runDir, 'summary.md'), 'utf8');
    assert.equal(result.status, 'complete');
    assert.deepEqual(result.cells.map((c) => c.mesh).sort(), ['baseline', 'ebpf', 'ebpf-l4', 'sidecar']);
    assert.equal(readFileSync(join(runDir, 'cells.jsonl'), 'utf8').trim().split('\n').length, 4);
    for (const cell of result.cells) {
      assert.ok(cell.load.requests > 0, `${cell.id} carried requests`);
      assert.equal(cell.load.non2xx + cell.load.socketErrors, 0, `${cell.id} had errors`);
      assert.ok(cell.load.latencyUs.p50 > 0 && cell.load.latencyUs.p50 <= cell.load.latencyUs.p99);
    }
    // Per component, from the eBPF probes: a proxy per pod for sidecar, the one node proxy
    // for ebpf, no proxy for ebpf-l4 and baseline; memory and CPU for every proxy.
    const roles = (mesh: string): string[] =>
      Object.values(result.cells.find((c) => c.mesh === mesh)!.components ?? {}).map((c) => c.role).sort();
    assert.deepEqual(roles('baseline'), ['client-app', 'server-app']);
    assert.deepEqual(roles('sidecar'), ['client-app', 'client-sidecar', 'server-app', 'server-sidecar']);
    assert.deepEqual(roles('ebpf'), ['client-app', 'node-proxy', 'server-app']);
    assert.deepEqual(roles('ebpf-l4'), ['client-app', 'server-app']);
    for (const cell of result.cells) {
      assert.deepEqual(cell.probes?.ran.sort(), ['connect', 'cpu', 'dwell', 'memory', 'runq']);
      assert.ok((cell.probes?.cost?.bpfInvocations ?? 0) > 0, 'the probes state their own cost');
      for (const [id, c] of Object.entries(cell.components ?? {})) {
        assert.ok((c.memory?.peakBytes ?? 0) > 1e6, `${cell.id} ${id}: RSS from the memory probe`);
        assert.ok((c.cpuSeconds ?? 0) > 0, `${cell.id} ${id}: CPU from the cpu probe`);
        if (c.role !== 'client-app') assert.ok((c.dwell?.count ?? 0) > 0, `${cell.id} ${id}: dwell samples`);
      }
    }
    assert.ok(summary.includes('where it goes, per component'), 'summary.md has the per-component table');
    assert.equal(result.environment.proxy.name, 'haproxy');
    assert.match(result.environment.proxy.version, /^\d+\.\d+/);
    assert.ok(result.analysis.overhead.some((o) => o.mesh === 'sidecar'));
    for (const mesh of ['baseline', 'sidecar', 'ebpf', 'ebpf-l4']) assert.ok(summary.includes(mesh), `summary names ${mesh}`);
    for (const mesh of ['baseline', 'sidecar', 'ebpf-l4']) assert.ok(exit.stderr.includes(mesh), 'the table is printed');
    await assertNothingLeft();
  });

  test('SIGINT stops the run, cleans up, keeps finished cells and exits non-zero', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-sigint-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'runs');
    let pid = 0;
    const running = meshbench(['run', scenarioFile(dir, SMALL.replace('repeats: 1', 'repeats: 3')), '--out', out], {
      onStart: (p) => (pid = p),
    });
    // Interrupt once the first cell is on disk, in the middle of a later one.
    const deadline = Date.now() + 120_000;
    const cellsFile = (): string | undefined => {
      const [runId] = existsSync(out) ? readdirSync(out) : [];
      return runId ? join(out, runId, 'cells.jsonl') : undefined;
    };
    while (Date.now() < deadline && !(cellsFile() && existsSync(cellsFile()!))) await sleep(100);
    await sleep(1500);
    process.kill(pid, 'SIGINT');
    const exit = await running;
    assert.equal(exit.code, 130, exit.stderr);
    const runDir = join(out, readdirSync(out)[0]!);
    const result = JSON.parse(readFileSync(join(runDir, 'result.json'), 'utf8')) as RunResult;
    assert.equal(result.status, 'interrupted');
    const kept = readFileSync(join(runDir, 'cells.jsonl'), 'utf8').trim().split('\n');
    assert.ok(kept.length >= 1 && kept.length < 12);
    assert.equal(result.cells.length, kept.length);
    await assertNothingLeft();
  });

  test('bad input: every problem with its path, exit 2, nothing created', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-bad-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'runs');
    const bad = scenarioFile(dir, `
name: Bad Name
meshes: [baseline, linkerd]
services: [ten]
load: { model: open, rate: -5, duration: 10 }
colour: blue
`);
    const validate = await meshbench(['validate', bad]);
    assert.equal(validate.code, 2);
    for (const path of ['name', 'meshes[1]', 'services[0]', 'load.rate', 'load.duration', 'colour']) {
      assert.ok(validate.stderr.includes(`  ${path}: `), `validate names ${path}:\n${validate.stderr}`);
    }
    const runExit = await meshbench(['run', bad, '--out', out]);
    assert.equal(runExit.code, 2);
    assert.equal(existsSync(out), false, 'a run with bad input creates nothing');
    const flag = await meshbench(['run', bad, '--no-such-flag']);
    assert.equal(flag.code, 2);
    await assertNothingLeft();
  });
});
