// The analysis of a run, from its cells alone: overhead vs baseline per repeat, every figure
// compared with its 95 % CI and p-value, and the scaling fits. Stored in result.json's
// `analysis`; every view (summary.md, report.html, the terminal table) reads it from there.
import type { RunResult } from '../results/types.ts';
import { compareMeshesToBaseline } from './compare.ts';
import { computeOverhead } from './overhead.ts';
import { scalingFits } from './scaling.ts';
import { decomposeMeshes } from './decomposition.ts';
import { chainFits } from './chain.ts';

export function analyseRun(allCells: RunResult['cells']): RunResult['analysis'] {
  // A failed cell keeps what it measured, but a path with a dead proxy is no figure of it.
  const cells = allCells.filter((cell) => cell.status !== 'failed' && cell.status !== 'not-run');
  // With a chain axis, overhead, comparisons and the services fits are of the one-hop cells
  // (a mesh against the baseline of the same shape); chain.ts fits the cost per hop.
  const oneHop = cells.filter((cell) => (cell.chain ?? 1) === 1);
  const analysis: RunResult['analysis'] = { overhead: computeOverhead(oneHop), comparisons: compareMeshesToBaseline(oneHop) };
  const scaling = scalingFits(oneHop);
  if (scaling.length > 0) analysis.scaling = scaling;
  const decomposition = decomposeMeshes(cells);
  if (decomposition.length > 0) analysis.decomposition = decomposition;
  const chain = chainFits(cells);
  if (chain.length > 0) analysis.chain = chain;
  return analysis;
}
