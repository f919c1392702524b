// Issue 14 through the real platform, as a user meets each fault: `node bin/meshbench.js run`
// as a child process with small scenarios (1–2 s cells), then what is left on disk and on the
// host. Signals a user can send (HUP mid-cell, QUIT), a SIGKILL mid-cell followed by clean,
// the views and --resume, a killed sidecar and a killed probe loader, a second live run.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CellResult, RunResult } from '../../harness/results/types.ts';
import type { RunState } from '../../harness/platform/local/state.ts';
import { findLeftovers } from '../../harness/platform/local/clean.ts';
import { requireRoot } from './helpers.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = join(ROOT, 'bin', 'meshbench.js');

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  pid: number;
  stderr: () => string;
  /** How it ended, once it has. */
  exited: () => Exit | undefined;
  done: Promise<Exit>;
}

function start(args: string[], timeoutMs = 120_000): Running {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exit: Exit | undefined;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Exit>((resolveDone) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      exit = { code, signal, stdout, stderr };
      resolveDone(exit);
    });
  });
  return { pid: child.pid!, stderr: () => stderr, exited: () => exit, done };
}

function meshbench(args: string[], timeoutMs?: number): Promise<Exit> {
  return start(args, timeoutMs).done;
}

/** Polls `probe` until it gives a value; fails at once, with its output, if `run` ends first (e.g. refused: another run measures). */
async function waitFor<T>(what: string, probe: () => T | undefined | false, { timeoutMs = 60_000, run }: { timeoutMs?: number; run?: Running } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    const exit = run?.exited();
    if (exit) {
      await sleep(200); // the last of its output may follow its exit
      throw new Error(`waiting for ${what}: the run ended first (exit ${exit.code ?? exit.signal})\n${run!.stderr()}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function scenarioFile(dir: string, name: string, yaml: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

const scenarioYaml = (name: string, meshes: string, extra = '', duration = '1s') => `
name: ${name}
meshes: [${meshes}]
services: [1]
load: { model: open, rate: 100, connections: 1, duration: ${duration}, warmup: 500ms }
repeats: 1
probes: []
${extra}`;

function runDirs(out: string): string[] {
  return existsSync(out) ? readdirSync(out, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(out, e.name)) : [];
}

function cellLines(runDir: string): number {
  const path = join(runDir, 'cells.jsonl');
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0;
}

function state(runDir: string): RunState | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8')) as RunState;
  } catch {
    return undefined;
  }
}

/** The pid of the run's live process named `pod/name`, from its state.json. */
function processOf(runDir: string, name: string, notPid?: number): number | undefined {
  for (const r of state(runDir)?.resources ?? []) {
    if (r.kind === 'process' && r.name === name && r.pid !== notPid && existsSync(`/proc/${r.pid}`)) return r.pid;
  }
  return undefined;
}

function readResult(runDir: string): RunResult {
  return JSON.parse(readFileSync(join(runDir, 'result.json'), 'utf8')) as RunResult;
}

/**
 * Keys by path, arrays by their elements' keys: what "the same shape" means for two results
 * (leaves are values: a CI bound may be a number in one run and null in another).
 */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) {
    const shapes = [...new Set(value.map((v) => JSON.stringify(shapeOf(v))))].sort();
    return shapes.map((s) => JSON.parse(s) as unknown);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shapeOf((value as Record<string, unknown>)[k])]));
  }
  return 'leaf';
}

/** The /proc stat fields of a process: nice (19th) and scheduling policy (41st). */
function schedulingOf(pid: number): { nice: number; policy: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { nice: Number(fields[16]), policy: Number(fields[38]) };
  } catch {
    return undefined;
  }
}
const SCHED_IDLE = 5;

/** Run ids of every run this file started (from the run directories under `dir`). */
const ourRuns = new Set<string>();

/**
 * Nothing of this file's runs is left on the host (as assertNothingLeft, but blind to other
 * suites' runs on a shared host, which are not this test's to judge).
 */
async function assertNothingLeft(root: string): Promise<void> {
  for (const sub of runDirs(root)) for (const runDir of runDirs(sub)) ourRuns.add(runDir.split('/').pop()!);
  const leftovers = (await findLeftovers()).filter((l) => ourRuns.has(l.runId));
  assert.deepEqual(leftovers.map((l) => ({ run: l.runId, resources: l.resources })), [], 'meshbench clean --dry-run finds resources of these runs left behind');
}

describe('faults through the real platform', () => {
  let dir: string;
  before(() => {
    requireRoot();
    dir = mkdtempSync(join(tmpdir(), 'meshbench-faults-'));
  });
  after(async () => {
    if (!dir) return;
    await assertNothingLeft(dir);
    // Only once nothing is left: the run directories hold the state files `meshbench clean` reads.
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGHUP mid-cell and SIGQUIT: the run stops, cleans up, keeps finished cells, exits 128+n', async () => {
    const out = join(dir, 'signals');
    const hup = start(['run', scenarioFile(dir, 'hup', scenarioYaml('faults-hup', 'baseline, sidecar', '', '2s')), '--out', out]);
    const runDir = await waitFor('the first cell', () => runDirs(out).find((d) => cellLines(d) === 1), { run: hup });
    await waitFor('the second cell under load', () => processOf(runDir, 'client-1/load-driver'), { timeoutMs: 30_000, run: hup });
    await sleep(500);
    process.kill(hup.pid, 'SIGHUP');
    const exit = await hup.done;
    assert.equal(exit.code, 129, exit.stderr);
    assert.match(exit.stderr, /SIGHUP: stopping, cleaning up, keeping finished cells/);
    const result = readResult(runDir);
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.cells.map((c) => c.id), ['baseline-http1-s1-r1']);
    assert.ok(existsSync(join(runDir, 'summary.md')) && existsSync(join(runDir, 'report.html')));
    await assertNothingLeft(dir);

    const quitOut = join(dir, 'quit');
    const quit = start(['run', scenarioFile(dir, 'quit', scenarioYaml('faults-quit', 'baseline')), '--out', quitOut]);
    const quitDir = await waitFor('the quit run', () => runDirs(quitOut)[0], { run: quit });
    await waitFor('its cell under load', () => processOf(quitDir, 'client-1/load-driver'), { timeoutMs: 30_000, run: quit });
    process.kill(quit.pid, 'SIGQUIT');
    const quitExit = await quit.done;
    assert.equal(quitExit.code, 131, quitExit.stderr);
    assert.equal(readResult(quitDir).status, 'interrupted');
    await assertNothingLeft(dir);
  });

  test('a second live run is refused; with --allow-concurrent both say so; clean leaves a live run alone at idle priority', async () => {
    const out = join(dir, 'concurrent');
    // Cells of 2 s: the run must outlast the clean, the refused run and the shared one, which
    // are done ~7 s after it starts; its four cells take ~11 s.
    const scenario = scenarioFile(dir, 'four', scenarioYaml('faults-four', 'baseline, sidecar, ebpf, ebpf-l4', '', '2s'));
    const first = start(['run', scenario, '--out', out]);
    const firstDir = await waitFor('the first run', () => runDirs(out)[0], { run: first });
    const firstId = firstDir.split('/').pop()!;
    await waitFor('its first cell under load', () => processOf(firstDir, 'client-1/load-driver'), { timeoutMs: 30_000, run: first });

    // clean while the run measures: it leaves the run alone, and yields the CPUs to it (nice 19,
    // SCHED_IDLE, from its first instruction). Then a second run (refused) and one that shares.
    const cleaning = start(['clean', '--dry-run']);
    const scheduling = await waitFor('clean at idle priority', () => {
      const s = schedulingOf(cleaning.pid);
      return s && s.policy === SCHED_IDLE ? s : undefined;
    }, { timeoutMs: 5000 });
    assert.equal(scheduling.nice, 19);
    const cleanExit = await cleaning.done;
    assert.match(cleanExit.stdout, new RegExp(`left run ${firstId} alone: it is still running`));
    const sharedOut = join(dir, 'shared');
    const [refused, shared] = await Promise.all([
      meshbench(['run', scenario, '--out', out]),
      meshbench(['run', scenarioFile(dir, 'one', scenarioYaml('faults-one', 'baseline')), '--out', sharedOut, '--allow-concurrent']),
    ]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`^meshbench: another meshbench run is measuring on this host: run ${firstId} \\(scenario faults-four, pid ${first.pid}`));
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.deepEqual(runDirs(out), [firstDir], 'the refused run created nothing');
    assert.equal(shared.code, 0, shared.stderr);
    const sharedResult = readResult(runDirs(sharedOut)[0]!);
    assert.ok(sharedResult.notes.some((n) => n.includes(`run ${firstId}`)), sharedResult.notes.join('\n'));
    for (const cell of sharedResult.cells) {
      assert.ok(cell.notes.some((n) => n.startsWith(`shared the host with run ${firstId}`)), cell.notes.join('\n'));
    }
    const firstExit = await first.done;
    assert.equal(firstExit.code, 0, firstExit.stderr);
    const firstResult = readResult(firstDir);
    const sharedCells = firstResult.cells.filter((c) => c.notes.some((n) => n.startsWith(`shared the host with run ${sharedResult.runId}`)));
    assert.ok(sharedCells.length >= 1, 'the first run says which of its cells shared the host');
    for (const cell of sharedCells) {
      assert.ok(Date.parse(cell.finishedAt) >= Date.parse(sharedResult.sessions![0]!.startedAt), `${cell.id} overlapped the shared run`);
    }
    await assertNothingLeft(dir);
  });

  test('SIGKILL mid-cell: clean removes everything (each process once), the directory stays a run, --resume completes it', async () => {
    const out = join(dir, 'killed');
    const scenario = scenarioFile(dir, 'four-killed', scenarioYaml('faults-four', 'baseline, sidecar, ebpf, ebpf-l4'));
    const killed = start(['run', scenario, '--out', out]);
    const runDir = await waitFor('the first cell', () => runDirs(out).find((d) => cellLines(d) === 1), { run: killed });
    await waitFor('the second cell under load', () => processOf(runDir, 'client-1/load-driver'), { timeoutMs: 30_000, run: killed });
    process.kill(killed.pid, 'SIGKILL');
    await killed.done;

    const dryRun = await meshbench(['clean', '--dry-run', '--json']);
    const report = JSON.parse(dryRun.stdout) as { removed: Array<{ resource: string }> };
    const processes = report.removed.map((r) => r.resource).filter((r) => r.startsWith('process '));
    const pids = processes.map((r) => r.split(' ')[1]);
    assert.ok(pids.length >= 2, `the killed cell's processes are listed: ${processes.join(', ')}`);
    assert.equal(new Set(pids).size, pids.length, `each process once: ${processes.join(', ')}`);
    const cleaned = await meshbench(['clean']);
    assert.equal(cleaned.code, 0, cleaned.stdout + cleaned.stderr);
    await assertNothingLeft(dir);

    // The views work from what the directory holds.
    const [reportExit, exportExit, dashboardExit] = await Promise.all([
      meshbench(['report', runDir]),
      meshbench(['export', runDir, '--format', 'smp']),
      meshbench(['dashboard', out, '--out', join(dir, 'site')]),
    ]);
    assert.equal(reportExit.code, 0, reportExit.stderr);
    assert.ok(existsSync(join(runDir, 'report.html')));
    assert.match(readFileSync(join(runDir, 'summary.md'), 'utf8'), /interrupted: 1 of 4 cells measured/);
    assert.equal(exportExit.code, 0, exportExit.stderr);
    assert.match(exportExit.stdout, /baseline/, 'the SMP export holds the measured cell');
    assert.equal(dashboardExit.code, 0, dashboardExit.stderr);
    const compared = await meshbench(['compare', runDir, runDir]);
    assert.notEqual(compared.code, 2, compared.stderr);

    const resumed = await meshbench(['run', '--resume', runDir]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming run \w{5} in .*: 3 cells to run/);
    const result = readResult(runDir);
    assert.equal(result.status, 'complete');
    assert.deepEqual(result.cells.map((c) => c.id).sort(), ['baseline-http1-s1-r1', 'ebpf-http1-s1-r1', 'ebpf-l4-http1-s1-r1', 'sidecar-http1-s1-r1']);
    assert.equal(result.sessions?.length, 2);
    assert.deepEqual(result.sessions![0]!.cells, ['baseline-http1-s1-r1']);
    assert.deepEqual([...result.sessions![1]!.cells].sort(), ['ebpf-http1-s1-r1', 'ebpf-l4-http1-s1-r1', 'sidecar-http1-s1-r1']);
    const kept = result.cells.find((c) => c.id === 'baseline-http1-s1-r1')!;
    assert.ok(Date.parse(kept.finishedAt) < Date.parse(result.sessions![1]!.startedAt), 'the kept cell ran before the resume');
    assert.equal(readFileSync(join(runDir, 'cells.jsonl'), 'utf8').trim().split('\n').length, 4);

    // Equal in shape to an uninterrupted run of the same scenario (the concurrency test's first run).
    const uninterrupted = runDirs(join(dir, 'concurrent'))[0];
    assert.ok(uninterrupted, 'the uninterrupted run of the test before');
    // Notes are data, not shape (the uninterrupted run's cells say they shared the host).
    const withoutNotes = (r: RunResult) => ({ ...r, notes: [], cells: r.cells.map((c) => ({ ...c, notes: [] })) });
    assert.deepEqual(shapeOf(withoutNotes(result)), shapeOf(withoutNotes(readResult(uninterrupted))));
    await assertNothingLeft(dir);
  });

  test('a killed sidecar and a killed probe loader: each cell failed with what died, the load kept, the run goes on, exit 1', async () => {
    const out = join(dir, 'dying');
    const scenario = scenarioFile(dir, 'dying', scenarioYaml('faults-dying', 'sidecar, baseline', '', '2s').replace('probes: []', 'probes: [connect]'));
    const running = start(['run', scenario, '--out', out]);
    const runDir = await waitFor('the run', () => runDirs(out)[0], { run: running });
    const firstDriver = await waitFor('the sidecar cell under load', () => processOf(runDir, 'client-1/load-driver'), { timeoutMs: 30_000, run: running });
    await sleep(1200);
    const sidecar = processOf(runDir, 'server-1/server-1-sidecar');
    assert.ok(sidecar, `the server's sidecar in ${JSON.stringify(state(runDir)?.resources.map((r) => (r as { name?: string }).name))}`);
    process.kill(sidecar, 'SIGKILL');

    await waitFor('the baseline cell under load', () => processOf(runDir, 'client-1/load-driver', firstDriver), { timeoutMs: 30_000, run: running });
    await sleep(1200);
    const loaders = spawnSync('pgrep', ['-P', String(running.pid), '-f', 'bpf/build/loader'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    assert.equal(loaders.length, 1, 'one probe loader under the run');
    process.kill(Number(loaders[0]), 'SIGKILL');

    const exit = await running.done;
    assert.equal(exit.code, 1, exit.stderr);
    assert.doesNotMatch(exit.stderr, /\n\s+at /, 'no stack trace');
    const result = readResult(runDir);
    assert.equal(result.status, 'failed');
    const byMesh = (mesh: string): CellResult => result.cells.find((c) => c.mesh === mesh)!;
    const side = byMesh('sidecar');
    assert.equal(side.status, 'failed');
    assert.equal(side.failure?.component, 'server-1/server-1-sidecar');
    assert.deepEqual(side.failure?.exit, { code: null, signal: 'SIGKILL' });
    assert.ok(side.load.latencyUs.count > 0, 'the driver\'s latency of the sidecar cell is kept');
    const base = byMesh('baseline');
    assert.equal(base.status, 'failed', 'the run went on to the next cell');
    assert.equal(base.failure?.component, 'probe-loader');
    assert.equal(base.failure?.exit?.signal, 'SIGKILL');
    assert.ok(base.load.latencyUs.count > 0, 'the latency, which needs no probes, is kept');
    assert.ok(result.analysis.overhead.length === 0, 'no analysis from failed cells');
    const summary = readFileSync(join(runDir, 'summary.md'), 'utf8');
    assert.match(summary, /\| sidecar ✖ failed \| failed \(see notes\)/);
    assert.match(summary, /sidecar-http1-s1-r1: ✖ failed: server-1\/server-1-sidecar \(SIGKILL\)/);
    await assertNothingLeft(dir);
  });

  test('a disk that fills up mid-run: one line naming the path (exit 1), no .tmp, whole lines, nothing left', async () => {
    const mount = join(dir, 'disk');
    spawnSync('mkdir', ['-p', mount]);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=5m', 'tmpfs', mount], { encoding: 'utf8' });
    assert.equal(mounted.status, 0, mounted.stderr);
    try {
      const running = start(['run', scenarioFile(dir, 'disk', scenarioYaml('faults-disk', 'baseline, sidecar')), '--out', mount]);
      const runDir = await waitFor('the run', () => runDirs(mount)[0], { run: running });
      await waitFor('the start record', () => existsSync(join(runDir, 'result.json')), { run: running });
      const free = Number(spawnSync('df', ['--output=avail', '-B1', mount], { encoding: 'utf8' }).stdout.trim().split('\n')[1]);
      writeFileSync(join(mount, 'filler'), Buffer.alloc(Math.max(0, free - 8192)));
      const exit = await running.done;
      assert.equal(exit.code, 1, exit.stderr);
      const last = exit.stderr.trim().split('\n').at(-1)!;
      assert.match(last, new RegExp(`^meshbench: .*${mount}/.*: no space left on the device \\(ENOSPC\\)$`));
      assert.doesNotMatch(exit.stderr, /\n\s+at /, 'no stack trace');
      const files = readdirSync(runDir, { recursive: true }) as string[];
      assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
      if (existsSync(join(runDir, 'cells.jsonl'))) {
        const text = readFileSync(join(runDir, 'cells.jsonl'), 'utf8');
        assert.ok(text === '' || text.endsWith('\n'), 'whole lines only');
        for (const line of text.split('\n').filter(Boolean)) JSON.parse(line);
      }
      await assertNothingLeft(dir);
      ourRuns.add(runDir.split('/').pop()!);
      await assertNothingLeft(dir);
    } finally {
      spawnSync('umount', [mount]);
    }
  });
});
