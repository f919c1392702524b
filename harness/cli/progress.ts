// One line of progress per finished cell, for stderr.
import { formatRps, formatUs } from '../results/summary.ts';
import type { CellResult } from '../results/types.ts';

export function formatCellProgress(cell: CellResult): string {
  const l = cell.load;
  if (cell.status === 'not-run') return `${cell.id}: ${cell.notRunReason ?? 'not run'}`;
  const asked = l.requestedRps !== undefined ? ` of ${formatRps(l.requestedRps)}` : '';
  const errors = l.non2xx + l.socketErrors;
  return [
    `${cell.id}: p50 ${formatUs(l.latencyUs.p50)}, p99 ${formatUs(l.latencyUs.p99)},`,
    `${formatRps(l.achievedRps)} rps${asked}, ${errors} errors${l.saturated ? ' ⚠ saturated' : ''}`,
  ].join(' ');
}
