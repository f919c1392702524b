// Issue 14, the pieces of a run that keep the data when something goes wrong, without a
// platform: the cell loop goes on after a failed cell, a killed run's directory reads back
// as a run, the host claim refuses a second run and says who shared the host when, and a
// cell's failure names what died first.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readRunResult } from '../../harness/analysis/resultFile.ts';
import { HostError, InputError } from '../../harness/errors.ts';
import { claimHost, liveRuns, staleClaims } from '../../harness/platform/local/liveRuns.ts';
import { appendCell, runHeaderOf, writeRunStart } from '../../harness/results/files.ts';
import type { CellResult, RunResult } from '../../harness/results/types.ts';
import { describeCellFailure } from '../../harness/runner/cell.ts';
import { runCellsInOrder } from '../../harness/runner/cells.ts';
import type { RunEvents } from '../../harness/runner/run.ts';
import { planCells } from '../../harness/scenario/plan.ts';
import { loadFixture } from '../fixtures/results/helpers.ts';

// Each test's directory, removed after the file's tests whether they passed or not.
const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `meshbench-${name}-`));
  temps.push(dir);
  return dir;
}

describe('the cell loop: a failure is data, not an end', () => {
  const base = loadFixture('base');
  const cells = planCells({ ...base.scenario, repeats: 1, services: [1] });

  function emptyRun(): RunResult {
    return { ...structuredClone(base), cells: [], notes: [], status: 'complete' };
  }

  test('a cell that throws becomes a failed cell, and the next cells run', async () => {
    const dir = tempDir('loop');
    const result = emptyRun();
    const events = new EventEmitter<RunEvents>();
    const failed: string[] = [];
    events.on('cell:failed', (cell) => failed.push(cell.id));
    const ran: string[] = [];
    await runCellsInOrder(cells, async (cell) => {
      ran.push(cell.id);
      if (cell.mesh === 'sidecar') throw Object.assign(new Error('server-1/sidecar died'), { cellFailure: { message: 'server-1/sidecar (pid 7) killed by SIGKILL mid-cell', component: 'server-1/sidecar', exit: { code: null, signal: 'SIGKILL' } } });
      return { ...base.cells.find((c) => c.mesh === cell.mesh)!, ...cell };
    }, { runDir: dir, result, events, aborted: () => false });
    assert.deepEqual(ran, cells.map((c) => c.id), 'every cell ran');
    assert.equal(result.cells.length, cells.length);
    const side = result.cells.find((c) => c.mesh === 'sidecar')!;
    assert.equal(side.status, 'failed');
    assert.equal(side.failure?.component, 'server-1/sidecar');
    assert.equal(side.load.latencyUs.count, 0, 'nothing measured: no sample, "no data"');
    assert.deepEqual(failed, [side.id]);
    const fromDisk = readRunResult(dir); // cells.jsonl alone: every cell, the failed one as failed
    assert.equal(fromDisk.cells.length, cells.length);
    assert.equal(fromDisk.cells.find((c) => c.mesh === 'sidecar')?.status, 'failed');
  });

  test('a HostError (the host cannot record any more) ends the run', async () => {
    const dir = tempDir('loop-host');
    const result = emptyRun();
    const ran: string[] = [];
    await assert.rejects(
      runCellsInOrder(cells, async (cell) => {
        ran.push(cell.id);
        throw new HostError('writing state.json: no space left on the device (ENOSPC)');
      }, { runDir: dir, result, events: new EventEmitter<RunEvents>(), aborted: () => false }),
      HostError,
    );
    assert.equal(ran.length, 1);
    assert.equal(result.status, 'failed');
  });
});

describe('a killed run directory is still a run', () => {
  const base = loadFixture('base');

  test('the start record plus cells.jsonl: the finished cells, status interrupted, analysis from them', () => {
    const dir = tempDir('killed');
    writeRunStart(dir, { ...structuredClone(base), cells: [] });
    for (const cell of base.cells.slice(0, 3)) appendCell(dir, cell, runHeaderOf(base));
    const result = readRunResult(dir);
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.cells.map((c) => c.id), base.cells.slice(0, 3).map((c) => c.id));
    assert.ok(result.notes.some((n) => n.startsWith('3 cells read from cells.jsonl')), result.notes.join('\n'));
    assert.ok(result.analysis.overhead.length > 0, 'the analysis is recomputed from the cells read');
  });

  test('cells.jsonl alone: rebuilt from the header of its first line', () => {
    const dir = tempDir('cells-only');
    for (const cell of base.cells.slice(0, 2)) appendCell(dir, cell, runHeaderOf(base));
    const result = readRunResult(dir);
    assert.equal(result.runId, base.runId);
    assert.deepEqual(result.scenario, base.scenario);
    assert.equal(result.status, 'interrupted');
    assert.equal(result.cells.length, 2);
    assert.match(result.notes[0]!, /^rebuilt from cells\.jsonl alone/);
  });

  test('a cell run again (a resumed run) counts once, the later line wins', () => {
    const dir = tempDir('rerun');
    const failed: CellResult = { ...structuredClone(base.cells[0]!), status: 'failed', failure: { message: 'x' } };
    appendCell(dir, failed, runHeaderOf(base));
    appendCell(dir, base.cells[0]!);
    const result = readRunResult(dir);
    assert.equal(result.cells.length, 1);
    assert.equal(result.cells[0]!.status, undefined);
  });

  test('cells.jsonl of an older version (no header) and no result.json: exit 2 saying why', () => {
    const dir = tempDir('old');
    writeFileSync(join(dir, 'cells.jsonl'), `${JSON.stringify(base.cells[0])}\n`);
    assert.throws(() => readRunResult(dir), (error: unknown) => error instanceof InputError && /has 1 cells but no run header/.test(error.message));
  });
});

describe('one measurement at a time: the host claim', () => {
  test('a second claim is refused naming the first, unless it shares; then both see each other', () => {
    const dir = tempDir('claims');
    const first = claimHost({ runId: 'aaaa1', runDir: '/x/aaaa1', scenario: 'quick', allowConcurrent: false, dir });
    assert.throws(
      () => claimHost({ runId: 'bbbb2', runDir: '/x/bbbb2', scenario: 'quick', allowConcurrent: false, dir }),
      (error: unknown) => error instanceof HostError && /^another meshbench run is measuring on this host: run aaaa1 \(scenario quick, pid \d+, since .*, \/x\/aaaa1\)/.test(error.message),
    );
    assert.deepEqual(liveRuns(dir).map((c) => c.runId), ['aaaa1'], 'the refused run left no claim');
    const shared = claimHost({ runId: 'cccc3', runDir: '/x/cccc3', scenario: 'quick', allowConcurrent: true, dir });
    assert.deepEqual(shared.othersAtStart.map((c) => c.runId), ['aaaa1']);
    const now = Date.now();
    assert.match(first.noteFor(now - 1000, now + 1000)!, /^shared the host with run cccc3 \(\/x\/cccc3\) during this cell \(--allow-concurrent\)/);
    assert.match(shared.noteFor(now - 1000, now + 1000)!, /^shared the host with run aaaa1/);
    shared.release();
    const afterRelease = Date.now() + 5;
    assert.equal(first.noteFor(afterRelease, afterRelease + 1000), undefined, 'a cell after the other run ended shared nothing');
    assert.match(first.noteFor(now - 1000, afterRelease)!, /cccc3/, 'a cell the other run came and went inside still says so');
    first.release();
    first.release();
    assert.deepEqual(liveRuns(dir), []);
  });

  test('a killed run\'s claim is stale: it refuses nothing and clean finds it', () => {
    const dir = tempDir('stale');
    writeFileSync(join(dir, 'dddd4.live'), JSON.stringify({ runId: 'dddd4', ownerPid: 2 ** 22 + 7, ownerStartTime: 1, startedAtMs: 0, runDir: '/x', scenario: 'q', allowConcurrent: false }));
    assert.deepEqual(liveRuns(dir), []);
    assert.deepEqual(staleClaims(dir).map((c) => c.runId), ['dddd4']);
    const claim = claimHost({ runId: 'eeee5', runDir: '/x/eeee5', scenario: 'quick', allowConcurrent: false, dir });
    claim.release();
  });
});

describe('what a failed cell says', () => {
  test('the first process to die is the cause, the others follow; its stderr tail kept', () => {
    const failure = describeCellFailure(
      [
        { name: 'client-1/load-driver', pid: 20, code: 1, signal: null, stderrTail: 'connection refused', atMs: 2000 },
        { name: 'server-1/server-1-sidecar', pid: 10, code: null, signal: 'SIGKILL', stderrTail: 'line 1\nline 2', atMs: 1000 },
      ],
      {},
    );
    assert.deepEqual(failure, {
      message: 'server-1/server-1-sidecar (pid 10) killed by SIGKILL mid-cell; then client-1/load-driver (exited with code 1)',
      component: 'server-1/server-1-sidecar',
      exit: { code: null, signal: 'SIGKILL' },
      stderrTail: 'line 1\nline 2',
    });
  });

  test('a probe loader that died: named, with its signal', () => {
    assert.deepEqual(describeCellFailure([], { probes: new Error('probe loader killed by SIGKILL (SIGKILL from the kernel): …') }), {
      message: 'probe loader killed by SIGKILL (SIGKILL from the kernel): …',
      component: 'probe-loader',
      exit: { code: null, signal: 'SIGKILL' },
    });
  });

  test('nothing died and nothing failed: no failure', () => {
    assert.equal(describeCellFailure([], {}), undefined);
  });
});
