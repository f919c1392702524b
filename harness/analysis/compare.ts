// Comparisons of two sets of cells, metric by metric, each with its bootstrap interval and
// permutation p-value: a mesh against the baseline within a run (the report), and the same
// cell group across two runs (the regression gate). Pure and seeded.
import type { CellResult } from '../results/types.ts';
import { MESH_NAMES, PROTOCOLS, REFERENCE_MESH, type MeshName, type Protocol, type Security } from '../scenario/types.ts';
import { cellUsage } from './efficiency.ts';
import { decodeLatencyHistogram, sampledPercentileUs, type LatencyDistribution } from './latency.ts';
import { differenceOfMedians, permutationTest, seedFrom, spreadOf, type DifferenceEstimate, type Spread, type Unit } from './stats.ts';

export const METRIC_NAMES = ['p50', 'p90', 'p99', 'p999', 'rps', 'cpuPer1kRps'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export interface MetricInfo {
  label: string;
  unit: 'µs' | 'req/s' | 'mCPU per 1k req/s';
  /** Which direction is worse: latency and CPU up, throughput down. */
  worse: 'higher' | 'lower';
  /** The percentile, for latency metrics. */
  percentile?: number;
}

export const METRICS: Record<MetricName, MetricInfo> = {
  p50: { label: 'p50 latency', unit: 'µs', worse: 'higher', percentile: 50 },
  p90: { label: 'p90 latency', unit: 'µs', worse: 'higher', percentile: 90 },
  p99: { label: 'p99 latency', unit: 'µs', worse: 'higher', percentile: 99 },
  p999: { label: 'p99.9 latency', unit: 'µs', worse: 'higher', percentile: 99.9 },
  rps: { label: 'throughput', unit: 'req/s', worse: 'lower' },
  cpuPer1kRps: { label: 'CPU per 1000 req/s', unit: 'mCPU per 1k req/s', worse: 'higher' },
};

export interface MetricComparison {
  metric: MetricName;
  base: Spread;
  next: Spread;
  /** next − base: difference of medians with its 95 % bootstrap interval. */
  change: DifferenceEstimate;
  /** Permutation test over repeats: two-sided p for "the medians differ". */
  pValue: number;
  /** The smallest p these numbers of repeats can give. */
  minAttainableP: number;
  /** What the interval resampled: repeats, and each repeat's requests where its histogram was there. */
  basis: 'repeats' | 'repeats and requests';
}

/** A mesh against the baseline of the same protocol and services, in one run. */
export interface MeshComparison {
  mesh: MeshName;
  protocol: Protocol;
  /** Present for mtls (absent: plaintext). Every mode is compared with the same baseline cells. */
  security?: Security;
  services: number;
  metrics: MetricComparison[];
}

export interface CompareOptions {
  /** Mixed into every comparison's seed; default 0. */
  seed?: number;
  iterations?: number;
  metrics?: readonly MetricName[];
}

/** Group id of a cell without its repeat, e.g. `sidecar-http1-s10`, with mtls `sidecar-http1-mtls-s10`. */
export function groupId(cell: Pick<CellResult, 'mesh' | 'protocol' | 'services'> & { security?: Security }): string {
  return `${cell.mesh}-${cell.protocol}${cell.security === 'mtls' ? '-mtls' : ''}-s${cell.services}`;
}

// Decoding a histogram costs a few ms; the report and the gate ask for the same cell often.
const decoded = new WeakMap<CellResult, LatencyDistribution | null>();

export function cellDistribution(cell: CellResult): LatencyDistribution | undefined {
  let distribution = decoded.get(cell);
  if (distribution === undefined) {
    try {
      distribution = cell.load.histogram && cell.load.latencyUs.count > 0 ? decodeLatencyHistogram(cell.load.histogram) : null;
    } catch {
      distribution = null;
    }
    decoded.set(cell, distribution);
  }
  return distribution ?? undefined;
}

/** The metric's figure for one cell, undefined where the cell lacks it. */
export function metricValue(cell: CellResult, metric: MetricName): number | undefined {
  switch (metric) {
    case 'p50':
    case 'p90':
    case 'p99':
    case 'p999':
      return cell.load.latencyUs.count > 0 ? cell.load.latencyUs[metric] : undefined;
    case 'rps':
      return cell.load.achievedRps;
    case 'cpuPer1kRps':
      return cellUsage(cell).cpuMillicoresPer1kRps;
  }
}

/** Cells as bootstrap units for a metric; undefined unless every cell has the figure. */
export function metricUnits(cells: readonly CellResult[], metric: MetricName): Unit[] | undefined {
  const units: Unit[] = [];
  const percentile = METRICS[metric].percentile;
  for (const cell of cells) {
    const value = metricValue(cell, metric);
    if (value === undefined || !Number.isFinite(value)) return undefined;
    const distribution = percentile === undefined ? undefined : cellDistribution(cell);
    units.push(distribution ? { value, resample: (rng) => sampledPercentileUs(distribution, percentile!, rng) } : { value });
  }
  return units;
}

/** One metric, base cells vs next cells; undefined when either side lacks the metric. */
export function compareMetric(
  base: readonly CellResult[],
  next: readonly CellResult[],
  metric: MetricName,
  seedText: string,
  options: CompareOptions = {},
): MetricComparison | undefined {
  if (base.length === 0 || next.length === 0) return undefined;
  const baseUnits = metricUnits(base, metric);
  const nextUnits = metricUnits(next, metric);
  if (!baseUnits || !nextUnits) return undefined;
  const seed = (seedFrom(`${seedText}|${metric}`) ^ (options.seed ?? 0)) >>> 0;
  const change = differenceOfMedians(baseUnits, nextUnits, { seed, iterations: options.iterations });
  const baseValues = baseUnits.map((u) => u.value);
  const nextValues = nextUnits.map((u) => u.value);
  const permutation = permutationTest(baseValues, nextValues, { seed: seed ^ 0x5bd1e995 });
  const withinRepeat = [...baseUnits, ...nextUnits].some((u) => u.resample !== undefined);
  return {
    metric,
    base: spreadOf(baseValues),
    next: spreadOf(nextValues),
    change,
    pValue: permutation.pValue,
    minAttainableP: permutation.minAttainable,
    basis: withinRepeat ? 'repeats and requests' : 'repeats',
  };
}

export function compareCellSets(
  base: readonly CellResult[],
  next: readonly CellResult[],
  seedText: string,
  options: CompareOptions = {},
): MetricComparison[] {
  const metrics = options.metrics ?? METRIC_NAMES;
  return metrics.flatMap((metric) => compareMetric(base, next, metric, seedText, options) ?? []);
}

/** Every non-baseline mesh × protocol × services against the baseline cells of its group. */
export function compareMeshesToBaseline(cells: readonly CellResult[], options: CompareOptions = {}): MeshComparison[] {
  const groups = new Map<string, { mesh: MeshName; protocol: Protocol; security: Security; services: number; cells: CellResult[] }>();
  for (const cell of cells) {
    const key = groupId(cell);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { mesh: cell.mesh, protocol: cell.protocol, security: cell.security ?? 'plaintext', services: cell.services, cells: [] }));
    group.cells.push(cell);
  }
  const comparisons: MeshComparison[] = [];
  for (const group of [...groups.values()].sort(byGroupOrder)) {
    if (group.mesh === REFERENCE_MESH) continue;
    const baseline = groups.get(groupId({ mesh: REFERENCE_MESH, protocol: group.protocol, services: group.services }));
    if (!baseline) continue;
    const metrics = compareCellSets(sortByRepeat(baseline.cells), sortByRepeat(group.cells), `mesh|${groupId(group)}`, options);
    comparisons.push({ mesh: group.mesh, protocol: group.protocol, ...(group.security === 'mtls' ? { security: group.security } : {}), services: group.services, metrics });
  }
  return comparisons;
}

export function byGroupOrder(
  a: Pick<CellResult, 'mesh' | 'protocol' | 'services'> & { security?: Security },
  b: Pick<CellResult, 'mesh' | 'protocol' | 'services'> & { security?: Security },
): number {
  return (
    PROTOCOLS.indexOf(a.protocol) - PROTOCOLS.indexOf(b.protocol) ||
    a.services - b.services ||
    MESH_NAMES.indexOf(a.mesh) - MESH_NAMES.indexOf(b.mesh) ||
    Number(a.security === 'mtls') - Number(b.security === 'mtls')
  );
}

function sortByRepeat(cells: readonly CellResult[]): CellResult[] {
  return [...cells].sort((a, b) => a.repeat - b.repeat);
}
