// The loop of a run: cells one after another, each appended to
// cells.jsonl and announced as soon as it exists; the first failed cell ends the run
// (its teardown has run), an abort ends it quietly.
import type { EventEmitter } from 'node:events';
import { appendCell } from '../results/files.ts';
import type { CellResult, RunResult } from '../results/types.ts';
import type { Cell } from '../scenario/types.ts';
import type { RunEvents } from './run.ts';

export async function runCellsInOrder(
  cells: readonly Cell[],
  runOne: (cell: Cell) => Promise<CellResult>,
  run: { runDir: string; result: RunResult; events: EventEmitter<RunEvents>; aborted: () => boolean },
): Promise<void> {
  for (const cell of cells) {
    if (run.aborted()) return;
    run.events.emit('cell:start', cell);
    try {
      const cellResult = await runOne(cell);
      run.result.cells.push(cellResult);
      appendCell(run.runDir, cellResult);
      run.events.emit('cell:done', cellResult);
    } catch (err) {
      if (run.aborted()) return;
      run.result.status = 'failed';
      run.result.notes.push(`cell ${cell.id} failed: ${(err as Error).message}`);
      run.events.emit('cell:failed', cell, err as Error);
      return;
    }
  }
}
