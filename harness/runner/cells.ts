// The loop of a run: cells one after another, each appended to cells.jsonl and announced as
// soon as it exists. A failure is data, not an end (issue 14): a cell that fails becomes a
// `failed` cell (what died, how, its stderr tail; what was measured kept) and the run goes
// on to the next one. Only a host that cannot record any more (a full disk: HostError) ends
// the run early; an abort ends it quietly.
import type { EventEmitter } from 'node:events';
import { HostError } from '../errors.ts';
import type { HostClaim } from '../platform/local/liveRuns.ts';
import { appendCell, runHeaderOf } from '../results/files.ts';
import type { CellResult, LoadOutcome, RunResult } from '../results/types.ts';
import type { Cell, Scenario } from '../scenario/types.ts';
import type { RunEvents } from './run.ts';

/** The load of a cell where nothing was measured: no sample (every view reads "no data"). */
export function emptyLoadOutcome(scenario?: Scenario): LoadOutcome {
  return {
    driver: scenario?.load.driver ?? 'none',
    model: scenario?.load.model ?? 'open',
    ...(scenario?.load.rate === undefined ? {} : { requestedRps: scenario.load.rate }),
    achievedRps: 0,
    requests: 0,
    non2xx: 0,
    socketErrors: 0,
    connections: 0,
    measuredMs: 0,
    saturated: false,
    latencyUs: { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, min: 0, mean: 0, count: 0 },
  };
}

/** A cell that produced no result of its own (it threw): failed, with nothing measured. */
export function failedCell(cell: Cell, error: Error, startedAt: string, scenario?: Scenario): CellResult {
  const failure = (error as Error & { cellFailure?: CellResult['failure'] }).cellFailure ?? { message: error.message.split('\n')[0]! };
  return {
    ...cell,
    status: 'failed',
    failure,
    startedAt,
    finishedAt: new Date().toISOString(),
    load: emptyLoadOutcome(scenario),
    path: {},
    notes: [`failed: ${failure.message}; nothing was measured`],
  };
}

export async function runCellsInOrder(
  cells: readonly Cell[],
  runOne: (cell: Cell) => Promise<CellResult>,
  run: { runDir: string; result: RunResult; events: EventEmitter<RunEvents>; aborted: () => boolean; hostClaim?: HostClaim },
): Promise<void> {
  for (const cell of cells) {
    if (run.aborted()) return;
    run.events.emit('cell:start', cell);
    const startedAt = new Date().toISOString();
    let cellResult: CellResult;
    try {
      cellResult = await runOne(cell);
    } catch (err) {
      if (run.aborted()) return;
      if (err instanceof HostError) {
        // The host cannot go on (no room to record the cell, a resource it cannot register).
        run.result.status = 'failed';
        run.result.notes.push(`cell ${cell.id} failed and the run stopped: ${err.message}`);
        run.events.emit('cell:failed', cell, err);
        throw err;
      }
      cellResult = failedCell(cell, err as Error, startedAt, run.result.scenario);
    }
    const shared = run.hostClaim?.noteFor(Date.parse(cellResult.startedAt), Date.parse(cellResult.finishedAt));
    if (shared) cellResult.notes.push(shared);
    run.result.cells.push(cellResult);
    appendCell(run.runDir, cellResult, runHeaderOf(run.result));
    if (cellResult.status === 'failed') {
      run.result.notes.push(`cell ${cell.id} failed: ${cellResult.failure?.message ?? 'unknown'}`);
      run.events.emit('cell:failed', cell, new Error(cellResult.failure?.message ?? 'failed'));
    } else {
      run.events.emit('cell:done', cellResult);
    }
  }
}
