// What mutual TLS costs each mesh: for every mesh of a run with both security modes, its p50
// and p99 plaintext and with mtls, the difference (the cost of the encryption on that path),
// both against the same no-mesh baseline, and the TLS sessions its proxies accepted per
// request (how well connection reuse amortised the handshakes). Cells not run say why.
// Pure: result in, tables out.
import { median } from 'simple-statistics';
import { PROTOCOLS, REFERENCE_MESH, type MeshName, type Protocol, type Security } from '../scenario/types.ts';
import type { ComponentTable } from './components.ts';
import { formatUs } from './format.ts';
import type { CellResult, RunResult } from './types.ts';

const measured = (cell: CellResult): boolean => cell.status !== 'failed' && cell.status !== 'not-run' && cell.load.latencyUs.count > 0;

function medianOf(cells: CellResult[], pick: (cell: CellResult) => number): number | undefined {
  const values = cells.filter(measured).map(pick);
  return values.length > 0 ? median(values) : undefined;
}

/** TLS sessions the path's proxies accepted (full handshakes + resumed), summed over the cell's counters. */
export function tlsSessions(cell: CellResult): { full: number; resumed: number } | undefined {
  const entries = Object.entries(cell.path);
  const full = entries.filter(([k]) => k.endsWith('inbound-tls-handshakes')).reduce((t, [, v]) => t + v, 0);
  const resumed = entries.filter(([k]) => k.endsWith('inbound-tls-resumed')).reduce((t, [, v]) => t + v, 0);
  return entries.some(([k]) => k.endsWith('inbound-tls-handshakes')) ? { full, resumed } : undefined;
}

const us = (value: number | undefined): string => (value === undefined ? 'no data' : formatUs(value));

function delta(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined) return '—';
  const d = a - b;
  const pct = b > 0 ? ` (${d >= 0 ? '+' : ''}${((100 * d) / b).toFixed(0)} %)` : '';
  return `${d >= 0 ? '+' : '−'}${formatUs(Math.abs(d))}${pct}`;
}

/** One table per protocol × services, when the run has mtls cells. */
export function securityTables(result: RunResult): ComponentTable[] {
  const modes: readonly Security[] = result.scenario.security ?? ['plaintext'];
  if (!modes.includes('mtls')) return [];
  const tables: ComponentTable[] = [];
  const oneHop = result.cells.filter((c) => (c.chain ?? 1) === 1);
  const protocols = PROTOCOLS.filter((p) => oneHop.some((c) => c.protocol === p));
  const servicesValues = [...new Set(oneHop.map((c) => c.services))].sort((a, b) => a - b);
  for (const protocol of protocols as Protocol[]) {
    for (const services of servicesValues) {
      const group = oneHop.filter((c) => c.protocol === protocol && c.services === services);
      const baseline = group.filter((c) => c.mesh === REFERENCE_MESH);
      const baseP50 = medianOf(baseline, (c) => c.load.latencyUs.p50);
      const rows: string[][] = [];
      const meshes = result.scenario.meshes.filter((m) => m !== REFERENCE_MESH) as MeshName[];
      for (const mesh of meshes) {
        const of = (security: Security) => group.filter((c) => c.mesh === mesh && (c.security ?? 'plaintext') === security);
        const plain = of('plaintext');
        const mtls = of('mtls');
        const notRun = mtls.find((c) => c.status === 'not-run');
        const p50 = (cells: CellResult[]) => medianOf(cells, (c) => c.load.latencyUs.p50);
        const p99 = (cells: CellResult[]) => medianOf(cells, (c) => c.load.latencyUs.p99);
        const sessions = mtls.filter(measured).flatMap((c) => {
          const s = tlsSessions(c);
          const requests = c.load.requests + c.load.non2xx;
          return s && requests > 0 ? [{ ...s, requests }] : [];
        });
        const sessionsText =
          sessions.length === 0
            ? '—'
            : `${median(sessions.map((s) => s.full))} full + ${median(sessions.map((s) => s.resumed))} resumed, ${(median(sessions.map((s) => (s.full + s.resumed) / s.requests)) * 1000).toFixed(2)} per 1000 requests`;
        rows.push([
          mesh,
          us(p50(plain)),
          notRun ? notRun.notRunReason ?? 'not run' : us(p50(mtls)),
          notRun ? '—' : delta(p50(mtls), p50(plain)),
          notRun ? '—' : delta(p99(mtls), p99(plain)),
          delta(p50(plain), baseP50),
          notRun ? '—' : delta(p50(mtls), baseP50),
          sessionsText,
        ]);
      }
      tables.push({
        heading: `${protocol} · ${services} service${services === 1 ? '' : 's'} — what mTLS costs each mesh`,
        header: ['mesh', 'p50 plaintext', 'p50 mtls', 'mtls cost p50', 'mtls cost p99', 'plaintext vs baseline p50', 'mtls vs baseline p50', 'TLS sessions accepted (mtls)'],
        align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
        rows,
      });
    }
  }
  return tables;
}
