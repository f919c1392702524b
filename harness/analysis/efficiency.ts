// What each component of a cell used: CPU (millicores, and per 1000 req/s) and memory.
// Pure: a cell in, figures out.
//
// Two sources, the probes' first: the eBPF `cpu` probe counts on-CPU time including the
// softirq work served while a component ran (where the eBPF and iptables data paths spend
// theirs), and the `memory` probe samples RSS (`cell.components`). Without probes,
// `cpuSeconds` from /proc (utime + stime over the measured window) is used and memory is
// unknown. The client app is the load driver — the instrument, not the data path — and is
// left out.
import type { CellResult } from '../results/types.ts';

export interface ComponentUsage {
  /** `<pod>/<role>`, e.g. `server-1/server-sidecar`, `node/node-proxy`. */
  component: string;
  /** The part after the last `/`: `client-sidecar`, `server-sidecar`, `server-app`, `node-proxy`… */
  role: string;
  cpuMillicores?: number;
  cpuMillicoresPer1kRps?: number;
  memoryPeakBytes?: number;
  memoryMeanBytes?: number;
}

export interface CellUsage {
  /** Where the CPU figures come from; undefined when there are none. */
  cpuSource?: 'probes' | 'proc';
  components: ComponentUsage[];
  /** Sums over components. */
  cpuMillicores?: number;
  cpuMillicoresPer1kRps?: number;
  memoryPeakBytes?: number;
}

/** The part of a cell's per-component probe figures (`cell.components`) this module reads. */
type ComponentFiguresView = Record<string, { role?: string; cpuSeconds?: number; memory?: { peakBytes?: number; meanBytes?: number } } | undefined>;

/** Roles that are not part of the data path's cost. */
const INSTRUMENT_ROLES = new Set(['client-app']);

function componentFigures(cell: CellResult): ComponentFiguresView | undefined {
  const components = (cell as { components?: unknown }).components;
  return typeof components === 'object' && components !== null && !Array.isArray(components) ? (components as ComponentFiguresView) : undefined;
}

export function roleOf(component: string): string {
  const slash = component.lastIndexOf('/');
  return slash === -1 ? component : component.slice(slash + 1);
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

export function cellUsage(cell: CellResult): CellUsage {
  const probed = componentFigures(cell);
  const probeCpu = probed && Object.values(probed).some((c) => finite(c?.cpuSeconds));
  const cpuSource: CellUsage['cpuSource'] = probeCpu ? 'probes' : cell.cpuSeconds && Object.keys(cell.cpuSeconds).length > 0 ? 'proc' : undefined;
  // Both sources cover the measured window.
  const windowS = cell.load.measuredMs / 1000;
  const kiloRps = cell.load.achievedRps / 1000;

  const ids = new Set<string>([...Object.keys(cell.cpuSeconds ?? {}), ...Object.keys(probed ?? {})]);
  const components: ComponentUsage[] = [];
  for (const component of [...ids].sort()) {
    const role = probed?.[component]?.role ?? roleOf(component);
    if (INSTRUMENT_ROLES.has(role)) continue;
    const usage: ComponentUsage = { component, role };
    const cpuSeconds = cpuSource === 'probes' ? probed![component]?.cpuSeconds : cpuSource === 'proc' ? cell.cpuSeconds?.[component] : undefined;
    if (finite(cpuSeconds) && windowS > 0) {
      usage.cpuMillicores = (cpuSeconds / windowS) * 1000;
      if (kiloRps > 0) usage.cpuMillicoresPer1kRps = usage.cpuMillicores / kiloRps;
    }
    const memory = probed?.[component]?.memory;
    if (finite(memory?.peakBytes)) usage.memoryPeakBytes = memory.peakBytes;
    if (finite(memory?.meanBytes)) usage.memoryMeanBytes = memory.meanBytes;
    if (usage.cpuMillicores !== undefined || usage.memoryPeakBytes !== undefined) components.push(usage);
  }

  const sum = (pick: (u: ComponentUsage) => number | undefined): number | undefined => {
    const values = components.map(pick).filter(finite);
    return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
  };
  return {
    cpuSource,
    components,
    cpuMillicores: sum((u) => u.cpuMillicores),
    cpuMillicoresPer1kRps: sum((u) => u.cpuMillicoresPer1kRps),
    memoryPeakBytes: sum((u) => u.memoryPeakBytes),
  };
}
