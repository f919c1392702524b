// Issue 14, full and unusable disks, file by file (real tmpfs mounts, no cell): nothing is
// ever half written. A full disk is a HostError naming the path (exit 1), a path that cannot
// take a run an OutputPathError (exit 2); no `.tmp` stays; cells.jsonl holds whole lines
// only, and a reader skips and names a line cut by a crash.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readRunResult } from '../../harness/analysis/resultFile.ts';
import { HostError, OutputPathError } from '../../harness/errors.ts';
import { StateFile } from '../../harness/platform/local/state.ts';
import { appendCell, CELLS_FILE, createRunDir, readCellLines, runHeaderOf, writeFileAtomic, writeResult } from '../../harness/results/files.ts';
import type { RunResult } from '../../harness/results/types.ts';
import { writeRunReport } from '../../reports/write.ts';
import { loadFixture } from '../fixtures/results/helpers.ts';
import { requireRoot } from './helpers.ts';

const mounts: string[] = [];

/** A fresh tmpfs of `size` (e.g. "64k"), unmounted in after(). */
function tmpfs(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), `meshbench-tmpfs-${size}-`));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mount tmpfs: ${r.stderr}`);
  mounts.push(dir);
  return dir;
}

/** Every file below dir, relative. */
function filesBelow(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** Fills a tmpfs up to its last `keepBytes` or so. */
function fill(dir: string, keepBytes: number): void {
  const free = Number(spawnSync('df', ['--output=avail', '-B1', dir], { encoding: 'utf8' }).stdout.trim().split('\n')[1]);
  writeFileSync(join(dir, 'filler'), Buffer.alloc(Math.max(0, free - keepBytes)));
}

describe('full and unusable disks: nothing half written', () => {
  before(requireRoot);
  after(() => {
    for (const dir of mounts) {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('writeFileAtomic on a full disk: HostError naming the path, the old file kept, no .tmp', () => {
    const dir = tmpfs('64k');
    const path = join(dir, 'result.json');
    writeFileAtomic(path, 'old\n');
    assert.throws(() => writeFileAtomic(path, 'x'.repeat(200_000)), (error: unknown) => {
      assert.ok(error instanceof HostError, String(error));
      assert.equal(error.message, `writing ${path}: no space left on the device (ENOSPC)`);
      return true;
    });
    assert.equal(readFileSync(path, 'utf8'), 'old\n');
    assert.deepEqual(filesBelow(dir), ['result.json']);
  });

  test('a cell appended to a full cells.jsonl leaves the file as it was: whole lines only', () => {
    const dir = tmpfs('64k');
    const result: RunResult = structuredClone(loadFixture('base'));
    appendCell(dir, result.cells[0]!, runHeaderOf(result));
    const before = readFileSync(join(dir, CELLS_FILE), 'utf8');
    fill(dir, 4096);
    const big = { ...result.cells[1]!, notes: ['x'.repeat(100_000)] };
    assert.throws(() => appendCell(dir, big), HostError);
    assert.equal(readFileSync(join(dir, CELLS_FILE), 'utf8'), before, 'the failed append was cut back off');
    const lines = readCellLines(dir);
    assert.equal(lines.cells.length, 1);
    assert.deepEqual(lines.skippedLines, []);
    assert.equal(lines.header?.runId, result.runId, 'the first line carries the run header');
  });

  test('a reader skips and names a cut last line (a crash mid-write)', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-cut-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const result: RunResult = structuredClone(loadFixture('base'));
    appendCell(dir, result.cells[0]!, runHeaderOf(result));
    appendCell(dir, result.cells[1]!, runHeaderOf(result));
    appendFileSync(join(dir, CELLS_FILE), JSON.stringify(result.cells[2]).slice(0, 500));
    const lines = readCellLines(dir);
    assert.equal(lines.cells.length, 2);
    assert.deepEqual(lines.skippedLines, [3]);
    const rebuilt = readRunResult(dir);
    assert.equal(rebuilt.status, 'interrupted');
    assert.equal(rebuilt.cells.length, 2);
    assert.ok(rebuilt.notes.some((n) => n === 'cells.jsonl: line 3 not a whole cell (cut by a crash or a full disk), skipped'), rebuilt.notes.join('\n'));
  });

  test('StateFile on a full disk: register refuses (nothing unrecorded gets created), release goes on, no .tmp', () => {
    const dir = tmpfs('64k');
    const state = new StateFile(join(dir, 'state.json'), 'zzfu1');
    try {
      state.register({ kind: 'dir', path: '/run/meshbench/zzfu1-a' });
      fill(dir, 1024);
      const many = Array.from({ length: 2000 }, (_, i) => ({ kind: 'dir' as const, path: `/run/meshbench/zzfu1-${i}-${'p'.repeat(40)}` }));
      assert.throws(() => state.registerMany(many), (error: unknown) => error instanceof HostError && /^cannot record the run's resources: writing .*state\.json: no space left on the device \(ENOSPC\)$/.test(error.message));
      assert.equal(state.resources.length, 1, 'what could not be recorded is not recorded');
      assert.doesNotThrow(() => state.release({ kind: 'dir', path: '/run/meshbench/zzfu1-a' }));
      assert.deepEqual(filesBelow(dir).sort(), ['filler', 'state.json']);
    } finally {
      state.close();
    }
  });

  test('writeRunReport on a full disk: one HostError, no .tmp left', async () => {
    const dir = tmpfs('300k');
    const result = loadFixture('base');
    writeResult(dir, result);
    await assert.rejects(writeRunReport(dir, result), (error: unknown) => {
      assert.ok(error instanceof HostError, String(error));
      assert.match(error.message, /^writing .*: no space left on the device \(ENOSPC\)$/);
      return true;
    });
    assert.deepEqual(filesBelow(dir).filter((f) => f.endsWith('.tmp')), []);
  });

  test('--out naming a file: OutputPathError (exit 2); a disk too small: HostError before any cell', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-out-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    assert.throws(() => createRunDir(file, 'abcde'), (error: unknown) => error instanceof OutputPathError && /--out must be a directory/.test(error.message));
    assert.throws(() => createRunDir(join(file, 'sub'), 'abcde'), OutputPathError);
    const small = tmpfs('200k');
    assert.throws(() => createRunDir(small, 'abcde'), (error: unknown) => error instanceof HostError && /only \d+ KiB free, a run directory needs at least 4\.0 MiB/.test(error.message));
    assert.deepEqual(readdirSync(small), [], 'nothing left on the small disk');
    mkdirSync(join(dir, 'ok'));
    assert.ok(existsSync(createRunDir(join(dir, 'ok'), 'abcde')));
  });

  test('through the CLI: --out a file exits 2, a 200 KB tmpfs exits 1, one line each, nothing created', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-out-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const scenario = join(dir, 'tiny.yaml');
    writeFileSync(scenario, 'name: tiny\nmeshes: [baseline]\nservices: [1]\nload: { rate: 50, connections: 1, duration: 1s, warmup: 0s }\nrepeats: 1\nprobes: []\n');
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const small = tmpfs('200k');
    for (const [out, code, pattern] of [
      [file, 2, /^meshbench: .*a-file: --out must be a directory/],
      [small, 1, /^meshbench: .*: only \d+ KiB free, a run directory needs at least 4\.0 MiB/],
    ] as const) {
      const r = spawnSync(process.execPath, ['bin/meshbench.js', 'run', scenario, '--out', out], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, code, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.deepEqual(readdirSync(small), []);
  });
});
