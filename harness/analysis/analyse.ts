// The analysis of a run, from its cells alone: overhead vs baseline per repeat, every figure
// compared with its 95 % CI and p-value, and the scaling fits. Stored in result.json's
// `analysis`; every view (summary.md, report.html, the terminal table) reads it from there.
import type { RunResult } from '../results/types.ts';
import { compareMeshesToBaseline } from './compare.ts';
import { computeOverhead } from './overhead.ts';
import { scalingFits } from './scaling.ts';

export function analyseRun(allCells: RunResult['cells']): RunResult['analysis'] {
  // A failed cell keeps what it measured, but a path with a dead proxy is no figure of it.
  const cells = allCells.filter((cell) => cell.status !== 'failed');
  const analysis: RunResult['analysis'] = { overhead: computeOverhead(cells), comparisons: compareMeshesToBaseline(cells) };
  const scaling = scalingFits(cells);
  if (scaling.length > 0) analysis.scaling = scaling;
  return analysis;
}
