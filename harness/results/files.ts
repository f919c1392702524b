// The run directory: cells.jsonl (append-only, a line per finished cell), result.json,
// summary.md. Nothing is ever half written: whole files go through a temp file + rename
// (the temp file removed again when the write fails), and a cell's line is appended whole
// or not at all (a failed append is cut back to the previous end of the file). A full or
// broken disk becomes a HostError naming the path (exit 1), a path that cannot be written
// an OutputPathError (exit 2), each one line.
import {
  closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { asFileSystemError, HostError, OutputPathError } from '../errors.ts';
import type { CellResult, RunResult } from './types.ts';

export const CELLS_FILE = 'cells.jsonl';
export const RESULT_FILE = 'result.json';
export const SUMMARY_FILE = 'summary.md';
export const STATE_FILE = 'state.json';

/**
 * Free space a run directory needs at the start: result.json and summary.md are small, but
 * report.html inlines vega and vega-lite (~0.8 MB) and the charts follow as SVG files. A
 * disk with less is refused before any cell runs, instead of failing after all of them.
 */
export const RUN_DIR_MIN_FREE_BYTES = 4 * 1024 * 1024;

/** Writes every byte of `data` to `fd` (writeSync may write less than asked). */
function writeAll(fd: number, data: Buffer, position?: number): void {
  let offset = 0;
  while (offset < data.length) {
    offset += writeSync(fd, data, offset, data.length - offset, position === undefined ? null : position + offset);
  }
}

/** `path` replaced whole by `text`, or left as it was (and no `.tmp` beside it). */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeAll(fd, Buffer.from(text));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw asFileSystemError(error, path);
  }
}

/**
 * Creates `outRoot/runId`. `--out` naming a file, a read-only or unwritable place: an
 * OutputPathError (exit 2); a disk without room for the run's files: HostError (exit 1).
 */
export function createRunDir(outRoot: string, runId: string, minFreeBytes = RUN_DIR_MIN_FREE_BYTES): string {
  const dir = join(outRoot, runId);
  try {
    const st = statSync(outRoot, { throwIfNoEntry: false });
    if (st !== undefined && !st.isDirectory()) {
      throw new OutputPathError(outRoot, '--out must be a directory (the parent of run directories), but this is a file');
    }
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    if (error instanceof OutputPathError) throw error;
    throw asFileSystemError(error, outRoot, 'creating the run directory in');
  }
  try {
    const fs = statfsSync(dir);
    const freeBytes = fs.bavail * fs.bsize;
    if (freeBytes < minFreeBytes) {
      rmSync(dir, { recursive: true, force: true });
      throw new HostError(
        `${outRoot}: only ${formatBytes(freeBytes)} free, a run directory needs at least ${formatBytes(minFreeBytes)} ` +
          '(result.json, cells.jsonl, report.html with its inlined charts); free some space or choose another --out',
      );
    }
  } catch (error) {
    if (error instanceof HostError) throw error;
    // No statfs (an exotic file system): the writes themselves still fail cleanly.
  }
  return dir;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${Math.floor(bytes / 1024)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * What a run is, apart from its cells: carried by the first line of cells.jsonl (as its
 * `run` field), so that cells.jsonl alone is a run after a SIGKILL that left no result.json.
 */
export type RunHeader = Pick<RunResult, 'schema' | 'meshbench' | 'runId' | 'startedAt' | 'environment' | 'scenario'>;

export function runHeaderOf(result: RunResult): RunHeader {
  const { schema, meshbench, runId, startedAt, environment, scenario } = result;
  return { schema, meshbench, runId, startedAt, environment, scenario };
}

/**
 * Appends the cell's line whole, or not at all: a failed write is cut back off the file.
 * The first line of the file also carries the run's header (`run`), when one is given.
 */
export function appendCell(runDir: string, cell: CellResult, header?: RunHeader): void {
  appendLine(join(runDir, CELLS_FILE), (size) => `${JSON.stringify(size === 0 && header ? { ...cell, run: header } : cell)}\n`);
}

/** Appends a whole line (given as text, or made from the file's current size) or nothing. */
export function appendLine(path: string, line: string | ((sizeBytes: number) => string)): void {
  let fd: number | undefined;
  let size = 0;
  try {
    fd = openSync(path, 'a');
    size = fstatSync(fd).size;
    writeAll(fd, Buffer.from(typeof line === 'string' ? line : line(size)));
  } catch (error) {
    if (fd !== undefined) {
      try {
        ftruncateSync(fd, size);
      } catch {
        /* the file keeps a partial last line; readers skip it (readCellLines) */
      }
    }
    throw asFileSystemError(error, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function writeResult(runDir: string, result: RunResult): void {
  writeFileAtomic(join(runDir, RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`);
}

/**
 * result.json as a run starts: no cells yet, status interrupted (it is replaced at the end),
 * so a run killed before it could write anything else is still a run directory.
 */
export function writeRunStart(runDir: string, result: RunResult): void {
  writeResult(runDir, {
    ...result,
    status: 'interrupted',
    cells: [],
    notes: [...result.notes, 'written as the run started; the run did not finish: its finished cells are in cells.jsonl'],
  });
}

export interface CellLines {
  cells: CellResult[];
  /** The run's header from the first line (absent in files of older versions). */
  header?: RunHeader;
  /** Lines that were not a whole JSON object (a last line cut by a crash or a full disk), 1-based. */
  skippedLines: number[];
}

/** The cells of cells.jsonl; a line that does not parse (a cut last line) is skipped and named. */
export function readCellLines(runDir: string): CellLines {
  let text: string;
  try {
    text = readFileSync(join(runDir, CELLS_FILE), 'utf8');
  } catch {
    return { cells: [], skippedLines: [] };
  }
  const cells: CellResult[] = [];
  const skippedLines: number[] = [];
  let header: RunHeader | undefined;
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        const { run, ...cell } = value as CellResult & { run?: RunHeader };
        if (run !== undefined) header ??= run;
        // A cell run again (a resumed run re-runs failed cells): the later line is the cell.
        const earlier = cells.findIndex((c) => c.id === cell.id);
        if (earlier >= 0) cells.splice(earlier, 1);
        cells.push(cell as CellResult);
      } else {
        skippedLines.push(i + 1);
      }
    } catch {
      skippedLines.push(i + 1);
    }
  });
  return { cells, skippedLines, ...(header ? { header } : {}) };
}

export function readCells(runDir: string): CellResult[] {
  return readCellLines(runDir).cells;
}
