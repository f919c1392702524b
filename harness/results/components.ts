// Where the time, CPU and memory go: per mesh, one row per component (pod × role) from the
// eBPF probes, as tables for summary.md and the terminal. Pure: cells in, table model out.
// A figure is the median over repeats of that component's figure.
import { median } from 'simple-statistics';
import type { ComponentRole } from '../mesh/types.ts';
import type { MeshName, Protocol } from '../scenario/types.ts';
import { formatUs } from './format.ts';
import type { CellResult, ComponentResult, RunResult } from './types.ts';

export interface ComponentTable {
  heading: string;
  header: string[];
  align: Array<'left' | 'right'>;
  rows: string[][];
}

/** Above this many components a mesh's rows are grouped by role (e.g. 30 server sidecars). */
export const MAX_COMPONENT_ROWS = 12;

const ROLE_ORDER: ComponentRole[] = ['client-app', 'client-sidecar', 'node-proxy', 'waypoint', 'server-sidecar', 'server-app'];

function fmtUs(us: number | undefined): string {
  return us === undefined || !Number.isFinite(us) ? '—' : formatUs(us);
}

function fmtMiB(bytes: number | undefined): string {
  return bytes === undefined ? '—' : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function fmtCpuMs(seconds: number | undefined): string {
  return seconds === undefined ? '—' : `${Math.round(seconds * 1000)} ms`;
}

function fmtCount(n: number | undefined): string {
  return n === undefined ? '—' : String(Math.round(n));
}

function med(values: Array<number | undefined>): number | undefined {
  const present = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return present.length === 0 ? undefined : median(present);
}

interface Row {
  label: string;
  role: ComponentRole;
  /** Per repeat: the figures of this component (or the sum/median over a role group). */
  perRepeat: Array<{ comp: ComponentResult; cell: CellResult; count: number }>;
}

function rowsFor(cells: CellResult[]): Row[] {
  const ids = new Map<string, ComponentRole>();
  for (const cell of cells) for (const [id, c] of Object.entries(cell.components ?? {})) ids.set(id, c.role);
  const byRole = (a: [string, ComponentRole], b: [string, ComponentRole]) =>
    ROLE_ORDER.indexOf(a[1]) - ROLE_ORDER.indexOf(b[1]) || a[0].localeCompare(b[0], 'en', { numeric: true });
  const entries = [...ids.entries()].sort(byRole);
  if (entries.length <= MAX_COMPONENT_ROWS) {
    return entries.map(([id, role]) => ({
      label: id,
      role,
      perRepeat: cells.flatMap((cell) => (cell.components?.[id] ? [{ comp: cell.components[id]!, cell, count: 1 }] : [])),
    }));
  }
  // Grouped: CPU and memory summed over the role's components, latencies as the median component.
  const roles = [...new Set(entries.map(([, role]) => role))].sort((a, b) => ROLE_ORDER.indexOf(a) - ROLE_ORDER.indexOf(b));
  return roles.map((role) => ({
    label: `${role} ×${entries.filter(([, r]) => r === role).length} (sum)`,
    role,
    perRepeat: cells.map((cell) => {
      const group = Object.values(cell.components ?? {}).filter((c) => c.role === role);
      const sum = (pick: (c: ComponentResult) => number | undefined) => group.reduce((t, c) => t + (pick(c) ?? 0), 0);
      const mid = (pick: (c: ComponentResult) => number | undefined) => med(group.map(pick));
      const comp: ComponentResult = {
        role,
        pod: '*',
        pids: group.flatMap((c) => c.pids),
        cpuSeconds: sum((c) => c.cpuSeconds),
        memory: { peakBytes: sum((c) => c.memory?.peakBytes), meanBytes: sum((c) => c.memory?.meanBytes), samples: 0 },
        dwell: { count: sum((c) => c.dwell?.count), p50Us: mid((c) => c.dwell?.p50Us) ?? 0, p90Us: 0, p99Us: mid((c) => c.dwell?.p99Us) ?? 0, meanUs: 0, histogram: [] },
        runq: { count: sum((c) => c.runq?.count), p50Us: 0, p90Us: 0, p99Us: mid((c) => c.runq?.p99Us) ?? 0, meanUs: 0, histogram: [] },
        connect: { count: sum((c) => c.connect?.count), failed: 0, accepted: sum((c) => c.connect?.accepted), p50Us: 0, p90Us: 0, p99Us: 0, meanUs: 0, histogram: [] },
      };
      return { comp, cell, count: group.length };
    }),
  }));
}

function meshRows(mesh: MeshName, cells: CellResult[]): string[][] {
  const rows = rowsFor(cells);
  if (rows.length === 0) return [];
  const meshCpu = med(cells.map((cell) => Object.values(cell.components ?? {}).filter((c) => c.role !== 'client-app').reduce((t, c) => t + (c.cpuSeconds ?? 0), 0)));
  return rows.map((row) => {
    const pick = (f: (c: ComponentResult, cell: CellResult) => number | undefined) => med(row.perRepeat.map(({ comp, cell }) => f(comp, cell)));
    const dwellP50 = pick((c) => (c.dwell?.count ? c.dwell.p50Us : undefined));
    const e2eP50 = pick((_, cell) => cell.load.latencyUs.p50);
    const cpu = pick((c) => c.cpuSeconds);
    const requests = pick((_, cell) => cell.load.requests + cell.load.non2xx);
    const onPath = row.role !== 'client-app';
    // The load driver's receive-to-send time is its pacing, not time a request spends in it.
    return [
      mesh,
      row.label,
      onPath ? fmtUs(dwellP50) : '—',
      onPath ? fmtUs(pick((c) => (c.dwell?.count ? c.dwell.p99Us : undefined))) : '—',
      onPath && dwellP50 !== undefined && e2eP50 ? `${Math.round((100 * dwellP50) / e2eP50)} %` : '—',
      fmtUs(pick((c) => (c.runq?.count ? c.runq.p99Us : undefined))),
      fmtCpuMs(cpu),
      cpu !== undefined && requests ? `${((cpu * 1e6) / requests).toFixed(1)} µs` : '—',
      onPath && cpu !== undefined && meshCpu ? `${Math.round((100 * cpu) / meshCpu)} %` : '—',
      fmtMiB(pick((c) => c.memory?.peakBytes)),
      fmtCount(pick((c) => c.connect?.count)),
    ];
  });
}

/** One table per protocol × services value; empty when no cell carries component figures. */
export function componentTables(result: RunResult, meshes: MeshName[], protocols: Protocol[], servicesValues: number[]): ComponentTable[] {
  const tables: ComponentTable[] = [];
  for (const protocol of protocols) {
    for (const services of servicesValues) {
      // Each security mode's cells apart (rows of mtls cells: "sidecar · mtls").
      const modes = result.scenario.security ?? ['plaintext'];
      const rows = meshes.flatMap((mesh) =>
        modes.flatMap((security) =>
          meshRows(mesh, result.cells.filter((c) => c.mesh === mesh && c.protocol === protocol && c.services === services && (c.security ?? 'plaintext') === security))
            .map((row) => (security === 'plaintext' || row[0] === '' ? row : [`${row[0]} · ${security}`, ...row.slice(1)])),
        ),
      );
      if (rows.length === 0) continue;
      tables.push({
        heading: `${protocol} · ${services} service${services === 1 ? '' : 's'} — where it goes, per component (eBPF probes)`,
        header: ['mesh', 'component', 'dwell p50', 'dwell p99', 'share of e2e p50', 'runq p99', 'CPU', 'CPU per request', 'share of mesh CPU', 'RSS peak', 'new connections'],
        align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
        rows,
      });
    }
  }
  return tables;
}

/** The probes' own cost over the run, for the notes: BPF program time per request. */
/** The hooks' framework cost (dispatch around each program, which bpf_stats does not count), as bench:probes measured it on/off. */
function frameworkText(costs: Array<NonNullable<NonNullable<CellResult['probes']>['cost']>>, requests: number): string {
  const measured = costs.filter((c) => c.frameworkSeconds !== undefined);
  if (measured.length === 0) return '; the hooks\' framework cost is not known here (npm run bench:probes measures it)';
  const seconds = measured.reduce((t, c) => t + c.frameworkSeconds!, 0);
  return `; plus the hooks' framework cost, ${(seconds * 1000).toFixed(0)} ms (${((seconds * 1e6) / Math.max(1, requests)).toFixed(2)} µs per request: ` +
    `${measured[0]!.frameworkNsPerInvocation} ns per invocation, measured on/off by bench:probes ${measured[0]!.frameworkMeasuredAt ?? ''})`;
}

export function probeCostNote(result: RunResult): string | undefined {
  const costs = result.cells.flatMap((cell) => (cell.probes?.cost ? [{ cost: cell.probes.cost, cell }] : []));
  if (costs.length === 0) return undefined;
  const bpfSeconds = costs.reduce((t, { cost }) => t + cost.bpfSeconds, 0);
  const loaderSeconds = costs.reduce((t, { cost }) => t + cost.loaderCpuSeconds, 0);
  const requests = costs.reduce((t, { cell }) => t + cell.load.requests + cell.load.non2xx, 0);
  const windowSeconds = costs.reduce((t, { cell }) => t + cell.load.measuredMs / 1000, 0);
  return (
    `probe overhead: the eBPF probes ran ${costs.reduce((t, { cost }) => t + cost.bpfInvocations, 0).toLocaleString('en')} times ` +
    `for ${(bpfSeconds * 1000).toFixed(0)} ms of CPU (${((bpfSeconds * 1e6) / Math.max(1, requests)).toFixed(2)} µs per request, ` +
    `${((100 * bpfSeconds) / Math.max(1e-9, windowSeconds)).toFixed(2)} % of one CPU), plus ${(loaderSeconds * 1000).toFixed(0)} ms in the loader ` +
    '(kernel bpf_stats run_time_ns and /proc, over the measured windows)' +
    frameworkText(costs.map(({ cost }) => cost), requests)
  );
}
