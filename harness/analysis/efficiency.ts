// What each component of a cell used: CPU (millicores, and per 1000 req/s) and memory.
// Pure: a cell in, figures out.
//
// Two sources, the probes' first: the eBPF `cpu` probe counts on-CPU time including the
// softirq work served while a component ran (where the eBPF and iptables data paths spend
// theirs), and the `memory` probe samples RSS. Without probes, `cpuSeconds` from /proc
// (utime + stime over the measured window) is used and memory is unknown.
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

/** The part of a cell's probe block this module reads; the probes write more. */
interface ProbeBlockView {
  windowMs?: number;
  components: Record<string, { cpuSeconds?: number; memory?: { peakBytes?: number; meanBytes?: number } }>;
}

/** The cell's probe figures (`cell.probes`, written by the probes stage), if it has any. */
function probeBlock(cell: CellResult): ProbeBlockView | undefined {
  const block = (cell as { probes?: unknown }).probes;
  if (typeof block !== 'object' || block === null) return undefined;
  const components = (block as { components?: unknown }).components;
  if (typeof components !== 'object' || components === null) return undefined;
  const windowMs = (block as { windowMs?: unknown }).windowMs;
  return { windowMs: typeof windowMs === 'number' && windowMs > 0 ? windowMs : undefined, components: components as ProbeBlockView['components'] };
}

export function roleOf(component: string): string {
  const slash = component.lastIndexOf('/');
  return slash === -1 ? component : component.slice(slash + 1);
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

export function cellUsage(cell: CellResult): CellUsage {
  const probes = probeBlock(cell);
  const probeCpu = probes && Object.values(probes.components).some((c) => finite(c?.cpuSeconds));
  const cpuSource: CellUsage['cpuSource'] = probeCpu ? 'probes' : cell.cpuSeconds && Object.keys(cell.cpuSeconds).length > 0 ? 'proc' : undefined;
  const windowS = (cpuSource === 'probes' ? (probes!.windowMs ?? cell.load.measuredMs) : cell.load.measuredMs) / 1000;
  const kiloRps = cell.load.achievedRps / 1000;

  const ids = new Set<string>([...Object.keys(cell.cpuSeconds ?? {}), ...Object.keys(probes?.components ?? {})]);
  const components: ComponentUsage[] = [];
  for (const component of [...ids].sort()) {
    const usage: ComponentUsage = { component, role: roleOf(component) };
    const cpuSeconds = cpuSource === 'probes' ? probes!.components[component]?.cpuSeconds : cpuSource === 'proc' ? cell.cpuSeconds?.[component] : undefined;
    if (finite(cpuSeconds) && windowS > 0) {
      usage.cpuMillicores = (cpuSeconds / windowS) * 1000;
      if (kiloRps > 0) usage.cpuMillicoresPer1kRps = usage.cpuMillicores / kiloRps;
    }
    const memory = probes?.components[component]?.memory;
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
