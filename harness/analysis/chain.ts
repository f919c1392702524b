// Cost per hop: per mesh, how latency, CPU and memory grow with the services a request
// crosses (scenario `chain`). Pure and deterministic: cells in, fits out — the same method
// as the services-per-node fits (scaling.ts), with x = the chain's length.
//
// Every cell is a point (x = its chain length, y = its figure; each repeat its own point)
// and an ordinary least-squares line through a mesh's points gives the cost of one more hop
// (the slope, with its 95 % interval b ± t(0.975, n − 2)·s/√Sxx) and the fixed part (the
// intercept: the line at 0 hops). A hop of the reference mesh (no mesh) costs an app and a
// kernel transit; a mesh's own cost per hop is its slope minus the reference's, with the
// interval of a difference of two independent slopes, ±t(0.975, n₁ + n₂ − 4)·√(se₁² + se₂²)
// (the Welch-free pooled degrees of freedom: close for equally noisy fits, conservative
// enough for a report; both slopes are given too).
//
// Figures: p50, p99 (the load's latency; saturated cells left out), node CPU (apps +
// proxies, the load driver left out), proxy CPU and proxy memory (peak RSS summed over the
// data path's proxies), exactly as scaling.ts reads them from a cell.
import type { CellResult } from '../results/types.ts';
import { REFERENCE_MESH, type Protocol } from '../scenario/types.ts';
import { cellHasProxies, linearFit, SCALING_METRIC_INFO, scalingValue, studentTQuantile, type LinearFit, type ScalingMetricInfo } from './scaling.ts';

export const CHAIN_METRICS = ['p50', 'p99', 'nodeCpu', 'proxyCpu', 'proxyMemory'] as const;
export type ChainMetric = (typeof CHAIN_METRICS)[number];

/** Fewest chain lengths a fit is drawn across (through two, anything looks linear). */
export const MIN_CHAIN_LENGTHS = 3;

export interface ChainPoint {
  chain: number;
  repeat: number;
  value: number;
}

export interface ChainFit {
  mesh: string;
  protocol: Protocol;
  /** Entry services of the cells (each heading a chain of its own). */
  services: number;
  metric: ChainMetric;
  unit: ScalingMetricInfo['unit'];
  points: ChainPoint[];
  /** Cells of this mesh left out (saturated, for latency; or without the figure). */
  excluded: number;
  /** Absent when the points do not allow a line (fewer than three chain lengths). */
  fit?: LinearFit;
  /**
   * The mesh's own cost per hop: its slope minus the reference mesh's, with its 95 %
   * interval; absent for the reference itself or without a reference fit.
   */
  vsReference?: { perHop: number; low: number; high: number };
}

/** The chain length of a cell (cells without the axis: 1). */
const chainOf = (cell: Pick<CellResult, 'chain'>): number => cell.chain ?? 1;

/** Every mesh × protocol × services × metric over at least three chain lengths. */
export function chainFits(cells: readonly CellResult[]): ChainFit[] {
  const fits: ChainFit[] = [];
  const groups = new Map<string, CellResult[]>();
  for (const cell of cells) {
    const key = `${cell.protocol}|${cell.services}`;
    groups.set(key, [...(groups.get(key) ?? []), cell]);
  }
  for (const groupCells of groups.values()) {
    if (new Set(groupCells.map(chainOf)).size < MIN_CHAIN_LENGTHS) continue;
    const { protocol, services } = groupCells[0]!;
    const meshes = [...new Set(groupCells.map((c) => c.mesh as string))];
    const groupFits: ChainFit[] = [];
    for (const mesh of meshes) {
      const meshCells = groupCells.filter((c) => c.mesh === mesh);
      const hasProxies = meshCells.some(cellHasProxies);
      for (const metric of CHAIN_METRICS) {
        const info = SCALING_METRIC_INFO[metric];
        if (info.proxyOnly && !hasProxies) continue;
        const points: ChainPoint[] = [];
        for (const cell of meshCells) {
          const value = scalingValue(cell, metric);
          if (value !== undefined && Number.isFinite(value)) points.push({ chain: chainOf(cell), repeat: cell.repeat, value });
        }
        if (points.length === 0) continue;
        points.sort((a, b) => a.chain - b.chain || a.repeat - b.repeat);
        const enough = points.length >= MIN_CHAIN_LENGTHS && new Set(points.map((p) => p.chain)).size >= MIN_CHAIN_LENGTHS;
        const fit = enough ? linearFit(points.map((p) => p.chain), points.map((p) => p.value)) : undefined;
        groupFits.push({ mesh, protocol, services, metric, unit: info.unit, points, excluded: meshCells.length - points.length, ...(fit ? { fit } : {}) });
      }
    }
    const referenceRan = meshes.includes(REFERENCE_MESH);
    for (const f of groupFits) {
      if (f.mesh === REFERENCE_MESH || !f.fit) continue;
      const reference = groupFits.find((r) => r.mesh === REFERENCE_MESH && r.metric === f.metric);
      if (reference?.fit) {
        const difference = slopeDifference(f.fit, reference.fit);
        if (difference) f.vsReference = difference;
      } else if (referenceRan && !reference && SCALING_METRIC_INFO[f.metric].proxyOnly && Number.isFinite(f.fit.slopeLow)) {
        // The reference runs no proxy: its proxy cost per hop is 0, and the mesh's own is its slope.
        f.vsReference = { perHop: f.fit.slope, low: f.fit.slopeLow, high: f.fit.slopeHigh };
      }
    }
    fits.push(...groupFits);
  }
  return fits;
}

/** a's slope minus b's, with the 95 % interval of the difference of two independent OLS slopes. */
export function slopeDifference(a: LinearFit, b: LinearFit): { perHop: number; low: number; high: number } | undefined {
  const df = a.n + b.n - 4;
  if (df < 1 || !Number.isFinite(a.slopeSe) || !Number.isFinite(b.slopeSe)) return undefined;
  const perHop = a.slope - b.slope;
  const half = studentTQuantile(0.975, df) * Math.sqrt(a.slopeSe ** 2 + b.slopeSe ** 2);
  return { perHop, low: perHop - half, high: perHop + half };
}
