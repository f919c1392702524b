// Reading a run's result.json back (report, compare, export, dashboard): checked at this
// edge with a schema, every problem at once with its field path, as an InputError (exit 2).
// Only what the views read is required; unknown fields pass through (later stages add
// blocks such as per-cell probe figures).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InputError, type InputProblem } from '../errors.ts';
import { CELLS_FILE, readCellLines, RESULT_FILE, type CellLines } from '../results/files.ts';
import { RESULT_SCHEMA, type RunResult } from '../results/types.ts';
import { formatPath } from '../scenario/schema.ts';
import { MESH_NAMES, PROTOCOLS } from '../scenario/types.ts';
import { analyseRun } from './analyse.ts';
import { decodeLatencyHistogram } from './latency.ts';

const count = z.number().int().nonnegative();
const nonNegative = z.number().nonnegative();

const latencySummary = z.looseObject({
  p50: nonNegative,
  p90: nonNegative,
  p99: nonNegative,
  p999: nonNegative,
  max: nonNegative,
  min: nonNegative,
  mean: nonNegative,
  count,
});

const cellSchema = z.looseObject({
  id: z.string().min(1),
  mesh: z.enum(MESH_NAMES),
  protocol: z.enum(PROTOCOLS),
  services: z.number().int().positive(),
  repeat: z.number().int().positive(),
  index: count,
  startedAt: z.string(),
  finishedAt: z.string(),
  load: z.looseObject({
    driver: z.string(),
    model: z.enum(['open', 'closed']),
    requestedRps: nonNegative.optional(),
    achievedRps: nonNegative,
    requests: count,
    non2xx: count,
    socketErrors: count,
    connections: count,
    measuredMs: nonNegative,
    saturated: z.boolean(),
    latencyUs: latencySummary,
    histogram: z.string().optional(),
  }),
  path: z.record(z.string(), z.number()),
  cpuSeconds: z.record(z.string(), z.number()).optional(),
  notes: z.array(z.string()),
});

const resultSchema = z.looseObject({
  schema: z.literal(RESULT_SCHEMA),
  meshbench: z.string(),
  runId: z.string().min(1),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  status: z.enum(['complete', 'failed', 'interrupted']),
  environment: z.looseObject({
    hostname: z.string(),
    kernel: z.string(),
    cpuModel: z.string(),
    cores: z.number().int().positive(),
    governor: z.string().optional(),
    node: z.string(),
    proxy: z.looseObject({ name: z.string(), version: z.string() }),
    tools: z.record(z.string(), z.string()),
    placement: z.looseObject({ driverCpus: z.string(), podCpus: z.string() }),
  }),
  scenario: z.looseObject({
    name: z.string(),
    platform: z.string(),
    meshes: z.array(z.enum(MESH_NAMES)).min(1),
    protocols: z.array(z.enum(PROTOCOLS)).min(1),
    services: z.array(z.number().int().positive()).min(1),
    workload: z.looseObject({ responseBytes: count, delayUs: nonNegative }),
    load: z.looseObject({
      model: z.enum(['open', 'closed']),
      rate: nonNegative.optional(),
      connections: count,
      durationMs: nonNegative,
      warmupMs: nonNegative,
      driver: z.string(),
    }),
    repeats: z.number().int().positive(),
  }),
  cells: z.array(cellSchema),
  analysis: z.looseObject({ overhead: z.array(z.looseObject({})) }),
  notes: z.array(z.string()),
});

// Field paths are spelled as in scenario problems (`cells[3].load.p50`).
export { formatPath };

function problemMessage(issue: z.core.$ZodIssue): string {
  const missing = /^Invalid input: expected (.+), received undefined$/.exec(issue.message);
  if (missing) return `missing (expected ${missing[1]})`;
  const input = (issue as { input?: unknown }).input;
  return input === undefined ? issue.message : `${issue.message}, got ${JSON.stringify(input)?.slice(0, 80)}`;
}

/** Checks parsed JSON as a result; `source` names it in the error (e.g. the file path). */
export function parseRunResult(input: unknown, source: string): RunResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InputError(source, [{ path: '', message: 'must be a JSON object (a meshbench result.json)' }]);
  }
  const schema = (input as { schema?: unknown }).schema;
  if (schema !== RESULT_SCHEMA) {
    // Another schema version: nothing else in it can be trusted to mean the same.
    const got = schema === undefined ? 'no schema field' : JSON.stringify(schema);
    throw new InputError(source, [{ path: 'schema', message: `expected "${RESULT_SCHEMA}", got ${got}` }]);
  }
  const parsed = resultSchema.safeParse(input, { reportInput: true });
  const problems: InputProblem[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: problemMessage(issue) }));
  // Histograms are checked even when other fields are wrong, so one pass reports everything.
  const cells = (input as { cells?: unknown }).cells;
  if (Array.isArray(cells)) {
    cells.forEach((cell: unknown, i) => {
      const histogram = (cell as { load?: { histogram?: unknown } } | null)?.load?.histogram;
      if (typeof histogram !== 'string') return;
      try {
        decodeLatencyHistogram(histogram);
      } catch (err) {
        problems.push({ path: `cells[${i}].load.histogram`, message: `not an HDR histogram (compressed base64): ${(err as Error).message}` });
      }
    });
  }
  if (problems.length > 0) throw new InputError(source, problems);
  return input as RunResult;
}

/** A run directory or a result.json path → the path of its result.json. */
export function resultPathOf(runDirOrFile: string): string {
  if (existsSync(runDirOrFile) && statSync(runDirOrFile).isDirectory()) return join(runDirOrFile, RESULT_FILE);
  return runDirOrFile;
}

/**
 * A run directory's result: result.json, completed from cells.jsonl when the run did not
 * finish (killed: result.json is the one written at the start, or missing), so every
 * finished cell can be looked at. Such a run's status is "interrupted", and its notes say
 * what was rebuilt; the analysis is recomputed from the cells.
 */
export function readRunResult(runDirOrFile: string): RunResult {
  const path = resultPathOf(runDirOrFile);
  if (!existsSync(runDirOrFile)) {
    throw new InputError(runDirOrFile, [{ path: '', message: 'no such run directory or result file' }]);
  }
  const isDir = path !== runDirOrFile;
  const lines = isDir ? readCellLines(runDirOrFile) : undefined;
  const cellsPath = join(runDirOrFile, CELLS_FILE);
  if (!existsSync(path)) {
    if (lines && lines.header) return parseRunResult(fromCellsOnly(lines), cellsPath);
    const why = lines && existsSync(cellsPath)
      ? `${CELLS_FILE} has ${lines.cells.length} cells but no run header (written by an older meshbench), so the run cannot be rebuilt from it`
      : `a run directory holds ${RESULT_FILE} (written as a run starts and when it ends) or ${CELLS_FILE}`;
    throw new InputError(path, [{ path: '', message: `missing: ${why}` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InputError(path, [{ path: '', message: `not valid JSON: ${(err as Error).message}` }]);
  }
  const result = parseRunResult(json, path);
  if (!lines) return result;
  const known = new Set(result.cells.map((cell) => cell.id));
  const extra = lines.cells.filter((cell) => !known.has(cell.id));
  if (extra.length === 0 && lines.skippedLines.length === 0) return result;
  const merged = structuredClone(result);
  merged.cells = [...merged.cells, ...extra].sort((a, b) => a.index - b.index);
  if (extra.length > 0) {
    merged.status = 'interrupted';
    merged.notes.push(`${extra.length} cells read from ${CELLS_FILE}: the run ended before it wrote them to ${RESULT_FILE} (killed?)`);
    merged.analysis = analyseRun(merged.cells);
  }
  merged.notes.push(...skippedNotes(lines.skippedLines));
  return parseRunResult(merged, path);
}

function skippedNotes(skippedLines: readonly number[]): string[] {
  return skippedLines.length === 0
    ? []
    : [`${CELLS_FILE}: line${skippedLines.length === 1 ? '' : 's'} ${skippedLines.join(', ')} not a whole cell (cut by a crash or a full disk), skipped`];
}

/** A run rebuilt from cells.jsonl alone: its first line's header, the cells, status interrupted. */
function fromCellsOnly(lines: CellLines): RunResult {
  const header = lines.header!;
  const cells = [...lines.cells].sort((a, b) => a.index - b.index);
  return {
    ...header,
    status: 'interrupted',
    cells,
    analysis: analyseRun(cells),
    notes: [
      `rebuilt from ${CELLS_FILE} alone (${RESULT_FILE} is missing: the run was killed): ${cells.length} finished cells`,
      ...skippedNotes(lines.skippedLines),
    ],
  };
}
