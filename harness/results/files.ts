// The run directory: cells.jsonl (append-only, a line per finished cell), result.json,
// summary.md. Writes are atomic (temp file + rename) so an interrupted run never leaves a
// half-written result.json.
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CellResult, RunResult } from './types.ts';

export const CELLS_FILE = 'cells.jsonl';
export const RESULT_FILE = 'result.json';
export const SUMMARY_FILE = 'summary.md';
export const STATE_FILE = 'state.json';

export function writeFileAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

export function createRunDir(outRoot: string, runId: string): string {
  const dir = join(outRoot, runId);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function appendCell(runDir: string, cell: CellResult): void {
  appendFileSync(join(runDir, CELLS_FILE), `${JSON.stringify(cell)}\n`);
}

export function writeResult(runDir: string, result: RunResult): void {
  writeFileAtomic(join(runDir, RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`);
}

export function readCells(runDir: string): CellResult[] {
  try {
    return readFileSync(join(runDir, CELLS_FILE), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as CellResult);
  } catch {
    return [];
  }
}
