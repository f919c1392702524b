// What a run's report shows, computed from result.json alone: the verdict, the charts (as
// vega-lite specs) and the tables. Pure and seeded, shared by report.html and the SVGs of
// summary.md so the two never disagree.
import type { TopLevelSpec } from 'vega-lite';
import { byGroupOrder, cellDistribution, type MeshComparison, type MetricComparison } from '../harness/analysis/compare.ts';
import { cellUsage } from '../harness/analysis/efficiency.ts';
import { mergeDistributions, percentileCurve } from '../harness/analysis/latency.ts';
import { medianOf, spreadOf } from '../harness/analysis/stats.ts';
import { formatRps, formatUs } from '../harness/results/summary.ts';
import type { CellResult, RunResult } from '../harness/results/types.ts';
import { meshModule, meshModules, registeredMesh } from '../harness/mesh/index.ts';
import { planCells } from '../harness/scenario/plan.ts';
import { scalingCharts } from './scaling.ts';
import { chainCharts } from './chain.ts';
import { decompositionCharts } from './decomposition.ts';
import { PROTOCOLS, REFERENCE_MESH, type MeshName, type Protocol, type Security } from '../harness/scenario/types.ts';
import {
  latencyCurveSpec,
  overheadSpec,
  ROLE_ORDER,
  throughputSpec,
  usageSpec,
  type LatencyCurveRow,
  type OverheadRow,
  type ThroughputRow,
  type UsageRow,
} from './specs.ts';

export const REPORT_QUESTION =
  'What does a service mesh’s data plane cost — sidecar proxies versus an eBPF per-node data path — in latency, throughput, CPU and memory, and how does that grow with the services on a node?';


/** The probes' own cost over all measured windows (kernel bpf_stats and /proc). */
export interface ProbeCost {
  cells: number;
  bpfSeconds: number;
  bpfInvocations: number;
  loaderCpuSeconds: number;
  /** BPF run time per request answered, µs. */
  bpfUsPerRequest: number;
  /** BPF run time as a share of one CPU over the measured windows, %. */
  bpfCpuPct: number;
}

export interface CellGroup {
  key: string;
  label: string;
  protocol: Protocol;
  services: number;
  /** With the security axis: the mode of the group's mesh cells (the baseline's cells are in every mode's group). */
  security?: Security;
  cells: CellResult[];
}

/** The comparisons that belong to a group: its protocol, services and security mode. */
export function inGroup(c: { protocol: Protocol; services: number; security?: Security }, group: CellGroup): boolean {
  return c.protocol === group.protocol && c.services === group.services && (c.security ?? 'plaintext') === (group.security ?? 'plaintext');
}

export interface ReportChart {
  id: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

export interface ReportModel {
  title: string;
  question: string;
  verdict: string;
  groups: CellGroup[];
  comparisons: MeshComparison[];
  charts: ReportChart[];
  plannedCells: number;
  missingCells: string[];
  probes: { ran: string[]; failed: Array<{ probe: string; why: string }>; cost?: ProbeCost };
  notes: string[];
}

export function groupLabel(protocol: string, services: number): string {
  return `${protocol} · ${services} ${services === 1 ? 'service' : 'services'}`;
}

export function cellGroups(result: RunResult): CellGroup[] {
  const groups: CellGroup[] = [];
  const protocols = [...PROTOCOLS].filter((p) => result.cells.some((c) => c.protocol === p));
  const services = [...new Set(result.cells.map((c) => c.services))].sort((a, b) => a - b);
  for (const protocol of protocols) {
    for (const s of services) {
      // The one-hop cells: a chain's longer cells are drawn in the cost-per-hop section (chain.ts).
      const cells = result.cells.filter((c) => c.protocol === protocol && c.services === s && (c.chain ?? 1) === 1).sort((a, b) => byGroupOrder(a, b) || a.repeat - b.repeat);
      const modes: readonly Security[] = result.scenario.security ?? ['plaintext'];
      if (modes.length === 1 && modes[0] === 'plaintext') {
        if (cells.length > 0) groups.push({ key: `${protocol}-s${s}`, label: groupLabel(protocol, s), protocol, services: s, cells });
        continue;
      }
      // A group per security mode, each with the baseline's (plaintext) cells as its reference.
      for (const security of modes) {
        const mine = cells.filter((c) => c.mesh === REFERENCE_MESH || (c.security ?? 'plaintext') === security).filter((c) => c.status !== 'not-run');
        if (mine.some((c) => c.mesh !== REFERENCE_MESH)) {
          groups.push({ key: `${protocol}-s${s}-${security}`, label: `${groupLabel(protocol, s)} · ${security}`, protocol, services: s, security, cells: mine });
        }
      }
    }
  }
  return groups;
}

export function meshesIn(cells: readonly CellResult[]): MeshName[] {
  const inCells = new Set<string>(cells.map((c) => c.mesh));
  return [...meshModules().map((m) => m.name).filter((m) => inCells.has(m)), ...[...inCells].filter((m) => !registeredMesh(m)).sort()] as MeshName[];
}

// ---------------------------------------------------------------------------------------
// Text

/** `+412 µs`, `−5.0 µs`, `0 µs`. */
export function signedUs(us: number): string {
  if (!Number.isFinite(us)) return 'n/a';
  const text = formatUs(Math.abs(us));
  if (/^0(\.0+)? /.test(text)) return text;
  return `${us > 0 ? '+' : '−'}${text}`;
}

export function signedPct(pct: number | null | undefined): string {
  if (pct === null || pct === undefined || !Number.isFinite(pct)) return 'n/a';
  const magnitude = Math.abs(pct).toFixed(Math.abs(pct) < 99.95 ? 1 : 0);
  if (Number(magnitude) === 0) return '0 %';
  return `${pct > 0 ? '+' : '−'}${magnitude} %`;
}

/** `+412 µs (+240 %) [+380 µs … +450 µs]`; `separator` goes between the change and its interval. */
export function changeText(m: MetricComparison, separator = ' '): string {
  const c = m.change;
  if (m.metric === 'rps') return `${signedPct(c.estimatePct)}${separator}[${signedPct(c.lowPct)} … ${signedPct(c.highPct)}]`;
  if (m.metric === 'cpuPer1kRps') {
    return `${signedNumber(c.estimate, 0)} mCPU/1k req/s (${signedPct(c.estimatePct)})${separator}[${signedNumber(c.low, 0)} … ${signedNumber(c.high, 0)}]`;
  }
  return `${signedUs(c.estimate)} (${signedPct(c.estimatePct)})${separator}[${signedUs(c.low)} … ${signedUs(c.high)}]`;
}

export function signedNumber(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const magnitude = Math.abs(value).toFixed(decimals);
  if (Number(magnitude) === 0) return magnitude;
  return `${value > 0 ? '+' : '−'}${magnitude}`;
}

export function pText(m: Pick<MetricComparison, 'pValue' | 'minAttainableP'>): string {
  if (!Number.isFinite(m.pValue)) return 'n/a';
  const p = m.pValue < 0.001 ? '<0.001' : m.pValue.toFixed(m.pValue < 0.01 ? 3 : 2);
  return m.minAttainableP >= 0.05 && m.pValue <= m.minAttainableP + 1e-12 ? `${p} (smallest possible)` : p;
}

function excludes(m: MetricComparison): boolean {
  return m.change.low > 0 || m.change.high < 0;
}

/** The one sentence at the top: what each mesh adds to the median request, with its interval. */
export function verdictSentence(result: RunResult, groups: readonly CellGroup[], comparisons: readonly MeshComparison[]): string {
  if (result.cells.length === 0) return 'Nothing was measured in this run, so there is no answer yet; the notes below say why.';
  // The group with the most services: the closest to a filled node.
  const group = [...groups].filter((g) => g.cells.some((c) => c.mesh === REFERENCE_MESH)).sort((a, b) => b.services - a.services || PROTOCOLS.indexOf(a.protocol) - PROTOCOLS.indexOf(b.protocol))[0];
  if (!group) return 'No baseline (no-mesh) cells were measured, so no mesh’s cost can be stated; the tables below give the raw figures.';
  const rows = comparisons.filter((c) => inGroup(c, group));
  const parts = rows.flatMap((row) => {
    const p50 = row.metrics.find((m) => m.metric === 'p50');
    if (!p50) return [];
    const c = p50.change;
    const interval = `95 % CI ${signedUs(c.low)} to ${signedUs(c.high)}`;
    return excludes(p50)
      ? [`${meshModule(row.mesh).phrase} ${signedUs(c.estimate)} (${signedPct(c.estimatePct)}; ${interval})`]
      : [`${meshModule(row.mesh).phrase} ${signedUs(c.estimate)} (${interval}: not distinguishable from no mesh)`];
  });
  const load = result.scenario.load;
  const where =
    `${load.model === 'open' ? `At ${formatRps(load.rate ?? 0)} req/s` : 'Under closed-model load'} over ` +
    `${group.services} ${group.services === 1 ? 'service' : 'services'} (${group.protocol}${result.scenario.workload.delayUs > 0 ? `, server delay ${formatUs(result.scenario.workload.delayUs)}` : ''})`;
  if (parts.length === 0) return `${where}, only the baseline was measured, so no mesh’s cost can be stated.`;
  const saturated = group.cells.some((c) => c.load.saturated) ? ' ⚠ Some of these cells saturated; their latencies measure a queue.' : '';
  const list = parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}`;
  return `${where}, the median request took, over no mesh: ${list}.${saturated}`;
}

// ---------------------------------------------------------------------------------------
// Chart data

export function latencyRows(cells: readonly CellResult[]): LatencyCurveRow[] {
  const rows: LatencyCurveRow[] = [];
  for (const mesh of meshesIn(cells)) {
    const meshCells = cells.filter((c) => c.mesh === mesh);
    const distributions = meshCells.map(cellDistribution);
    if (distributions.every((d) => d !== undefined) && distributions.length > 0) {
      const curve = percentileCurve(mergeDistributions(distributions as NonNullable<(typeof distributions)[number]>[]));
      // The histogram knows the maximum only to its bucket (3 significant digits); the cells know it exactly.
      curve[curve.length - 1]!.latencyUs = Math.max(...meshCells.map((c) => c.load.latencyUs.max));
      for (const point of curve) rows.push({ mesh, ...point });
    } else {
      // No histograms (an older result): the stored percentiles, median over repeats.
      const at = (pick: (c: CellResult) => number) => medianOf(meshCells.map(pick));
      const count = medianOf(meshCells.map((c) => c.load.latencyUs.count));
      for (const [percentile, value] of [
        [0, at((c) => c.load.latencyUs.min)],
        [50, at((c) => c.load.latencyUs.p50)],
        [90, at((c) => c.load.latencyUs.p90)],
        [99, at((c) => c.load.latencyUs.p99)],
        [99.9, at((c) => c.load.latencyUs.p999)],
      ] as const) {
        if (1 / (1 - percentile / 100) < count) rows.push({ mesh, percentile, inverseTail: Math.round(1e6 / (100 - percentile)) / 1e4, latencyUs: value });
      }
      rows.push({ mesh, percentile: Math.round(1e6 * (1 - 1 / count)) / 1e4, inverseTail: count, latencyUs: at((c) => c.load.latencyUs.max) });
    }
  }
  return rows;
}

export function overheadRows(comparison: readonly MeshComparison[]): OverheadRow[] {
  const nullable = (v: number) => (Number.isFinite(v) ? v : null);
  return comparison.flatMap((row) =>
    row.metrics
      .filter((m) => m.metric === 'p50' || m.metric === 'p99')
      .map((m) => ({
        mesh: row.mesh,
        metric: m.metric,
        deltaUs: m.change.estimate,
        lowUs: m.change.low,
        highUs: m.change.high,
        deltaPct: nullable(m.change.estimatePct),
        lowPct: nullable(m.change.lowPct),
        highPct: nullable(m.change.highPct),
        pValue: nullable(m.pValue),
      })),
  );
}

export function throughputRows(groups: readonly CellGroup[]): ThroughputRow[] {
  return groups.flatMap((group) =>
    meshesIn(group.cells).map((mesh) => {
      const cells = group.cells.filter((c) => c.mesh === mesh);
      const spread = spreadOf(cells.map((c) => c.load.achievedRps));
      const asked = cells.flatMap((c) => (c.load.requestedRps === undefined ? [] : [c.load.requestedRps]));
      return {
        group: group.label,
        mesh,
        achievedRps: spread.median,
        minRps: spread.min,
        maxRps: spread.max,
        askedRps: asked.length > 0 ? medianOf(asked) : null,
        saturated: cells.some((c) => c.load.saturated),
      };
    }),
  );
}

type UsageFigure = 'cpuPer1kRps' | 'memoryMb';

/** Per group, mesh and component role: the median over repeats of the role's sum. */
export function usageRows(groups: readonly CellGroup[], figure: UsageFigure): UsageRow[] {
  const rows: UsageRow[] = [];
  for (const group of groups) {
    for (const mesh of meshesIn(group.cells)) {
      const perRepeat = group.cells
        .filter((c) => c.mesh === mesh)
        .map((cell) => {
          const byRole = new Map<string, { value: number; detail: number; components: number }>();
          for (const u of cellUsage(cell).components) {
            const value = figure === 'cpuPer1kRps' ? u.cpuMillicoresPer1kRps : u.memoryPeakBytes === undefined ? undefined : u.memoryPeakBytes / 1e6;
            const detail = figure === 'cpuPer1kRps' ? u.cpuMillicores : u.memoryMeanBytes === undefined ? undefined : u.memoryMeanBytes / 1e6;
            if (value === undefined) continue;
            const entry = byRole.get(u.role) ?? { value: 0, detail: 0, components: 0 };
            entry.value += value;
            entry.detail += detail ?? 0;
            entry.components += 1;
            byRole.set(u.role, entry);
          }
          return byRole;
        });
      const roles = [...new Set(perRepeat.flatMap((m) => [...m.keys()]))];
      roles.sort((a, b) => orderOf(a) - orderOf(b) || a.localeCompare(b));
      for (const role of roles) {
        const entries = perRepeat.map((m) => m.get(role)).filter((e) => e !== undefined);
        rows.push({
          group: group.label,
          mesh,
          role,
          value: round(medianOf(entries.map((e) => e.value)), 3),
          detail: round(medianOf(entries.map((e) => e.detail)), 3),
          components: Math.max(...entries.map((e) => e.components)),
        });
      }
    }
  }
  return rows;
}

function orderOf(role: string): number {
  const i = ROLE_ORDER.indexOf(role);
  return i === -1 ? ROLE_ORDER.length : i;
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

// ---------------------------------------------------------------------------------------
// The model

/** The part of a cell's probe block (`cell.probes`) the report reads. */
interface ProbeRunView {
  ran?: unknown;
  failed?: unknown;
  cost?: { bpfSeconds?: unknown; bpfInvocations?: unknown; loaderCpuSeconds?: unknown };
}

function probeInfo(result: RunResult): ReportModel['probes'] {
  const ran = new Set<string>();
  const failed = new Map<string, string>();
  let cost: ProbeCost | undefined;
  let requests = 0;
  let windowS = 0;
  for (const cell of result.cells) {
    const block = (cell as { probes?: ProbeRunView }).probes;
    if (!block || typeof block !== 'object') continue;
    if (Array.isArray(block.ran)) for (const p of block.ran) if (typeof p === 'string') ran.add(p);
    if (block.failed && typeof block.failed === 'object') {
      for (const [probe, why] of Object.entries(block.failed as Record<string, unknown>)) {
        if (typeof why === 'string' && !failed.has(probe)) failed.set(probe, why);
      }
    }
    const c = block.cost;
    if (c && typeof c.bpfSeconds === 'number' && typeof c.bpfInvocations === 'number' && typeof c.loaderCpuSeconds === 'number') {
      cost ??= { cells: 0, bpfSeconds: 0, bpfInvocations: 0, loaderCpuSeconds: 0, bpfUsPerRequest: 0, bpfCpuPct: 0 };
      cost.cells += 1;
      cost.bpfSeconds += c.bpfSeconds;
      cost.bpfInvocations += c.bpfInvocations;
      cost.loaderCpuSeconds += c.loaderCpuSeconds;
      requests += cell.load.requests + cell.load.non2xx;
      windowS += cell.load.measuredMs / 1000;
    }
  }
  if (cost) {
    cost.bpfUsPerRequest = requests > 0 ? (cost.bpfSeconds * 1e6) / requests : 0;
    cost.bpfCpuPct = windowS > 0 ? (100 * cost.bpfSeconds) / windowS : 0;
  }
  return { ran: [...ran], failed: [...failed].map(([probe, why]) => ({ probe, why })), cost };
}

function methodNotes(result: RunResult, comparisons: readonly MeshComparison[]): string[] {
  const notes: string[] = [];
  const repeats = result.scenario.repeats;
  const withinRepeat = comparisons.some((c) => c.metrics.some((m) => m.basis === 'repeats and requests'));
  notes.push(
    'Δ vs baseline: difference of the medians over repeats (mesh − baseline, same protocol and services). ' +
      `95 % CI: percentile bootstrap (2000 replicates, seeded, so re-rendering gives the same intervals) resampling repeats` +
      (withinRepeat ? ' and, within each resampled repeat, its requests (from the repeat’s HDR histogram).' : '.') +
      ' p: exact permutation test over repeats of “the medians differ” (two-sided). ' +
      '(summary.md’s Δ columns pair each repeat with the same repeat’s baseline and take the median of those differences: a close but not identical estimate.)',
  );
  if (repeats < 3) {
    notes.push(
      `${repeats} ${repeats === 1 ? 'repeat' : 'repeats'} per cell: intervals rest mostly on the requests within ${repeats === 1 ? 'the repeat' : 'each repeat'} and understate drift between runs; with 2 + 2 repeats the smallest possible permutation p is 0.33. Publish from 3 or more repeats.`,
    );
  } else {
    const minP = comparisons.flatMap((c) => c.metrics).find((m) => m.metric === 'p50')?.minAttainableP;
    if (minP !== undefined && minP >= 0.05) {
      notes.push(`With ${repeats} + ${repeats} repeats the smallest possible permutation p is ${minP.toFixed(2)}: read p as the strength of evidence available, and the interval for the size of the effect.`);
    }
  }
  return notes;
}

export function buildReportModel(result: RunResult): ReportModel {
  const groups = cellGroups(result);
  const comparisons = result.analysis.comparisons ?? [];
  const planned = planCells(result.scenario);
  const measured = new Set(result.cells.map((c) => c.id));
  const missingCells = planned.filter((c) => !measured.has(c.id)).map((c) => c.id);
  const charts: ReportChart[] = [];
  const load = result.scenario.load;
  const loadText = load.model === 'open' ? `open model at ${formatRps(load.rate ?? 0)} req/s` : 'closed model';

  for (const group of groups) {
    const repeats = Math.max(...meshesIn(group.cells).map((m) => group.cells.filter((c) => c.mesh === m).length));
    charts.push({
      id: `latency-${group.key}`,
      title: `Latency by percentile — ${group.label}`,
      caption:
        'Each line pools a data path’s repeats (all their requests). The x axis spreads the tail as HdrHistogram plots do: 90 %, 99 %, 99.9 % sit a decade apart; the last point of each line is its maximum.',
      spec: latencyCurveSpec(`Latency by percentile — ${group.label}`, `${loadText}; ${repeats} ${repeats === 1 ? 'repeat' : 'repeats'} pooled per data path`, latencyRows(group.cells)),
    });
    const rows = overheadRows(comparisons.filter((c) => inGroup(c, group)));
    if (rows.length > 0) {
      charts.push({
        id: `overhead-${group.key}`,
        title: `Overhead vs baseline — ${group.label}`,
        caption: 'The dot is the difference of medians over repeats; the bar its 95 % bootstrap interval. A bar that crosses the dashed zero line is not distinguishable from no mesh.',
        spec: overheadSpec(`Latency overhead vs no mesh — ${group.label}`, 'Δ of the median over repeats, with its 95 % bootstrap CI', rows),
      });
    }
  }
  if (groups.length > 0) {
    charts.push({
      id: 'throughput',
      title: 'Throughput',
      caption: load.model === 'open' ? 'Open model: every path should reach the asked rate (dashed tick); a bar below it means the path or the driver saturated.' : 'Closed model: the rate each path sustains; the bar is the median over repeats, the line the min–max.',
      spec: throughputSpec('Throughput', load.model === 'open' ? `achieved vs asked (${formatRps(load.rate ?? 0)} req/s)` : 'closed model: capacity', throughputRows(groups)),
    });
  }
  const cpuRows = usageRows(groups, 'cpuPer1kRps');
  if (cpuRows.length > 0) {
    const sources = new Set(result.cells.map((c) => cellUsage(c).cpuSource).filter(Boolean));
    const source = sources.has('probes') ? 'eBPF cpu probe (on-CPU time incl. softirq served)' : '/proc utime + stime';
    charts.push({
      id: 'cpu',
      title: 'CPU per component',
      caption: `Millicores per 1000 req/s over the measured window, stacked by component (${source}); the load driver (client app) is not counted. Median over repeats.`,
      spec: usageSpec('CPU per component', `per 1000 req/s; source: ${source}`, 'mCPU per 1000 req/s', 'mCPU in total', cpuRows),
    });
  }
  const memoryRows = usageRows(groups, 'memoryMb');
  if (memoryRows.length > 0) {
    charts.push({
      id: 'memory',
      title: 'Memory per component',
      caption: 'Peak resident memory (RSS) of each component’s processes, stacked; from the eBPF memory probe. Median over repeats.',
      spec: usageSpec('Memory per component', 'peak RSS, MB (eBPF memory probe)', 'peak RSS (MB)', 'mean RSS (MB)', memoryRows),
    });
  }

  charts.push(...scalingCharts(result));
  charts.push(...chainCharts(result));
  charts.push(...decompositionCharts(result));

  const notes = [...result.notes];
  if (missingCells.length > 0) notes.push(`Not measured (${missingCells.length} of ${planned.length} planned cells): ${missingCells.join(', ')}.`);
  const saturated = result.cells.filter((c) => c.load.saturated).map((c) => c.id);
  if (saturated.length > 0) notes.push(`Saturated (achieved rate below 95 % of the asked one; latencies there measure a queue): ${saturated.join(', ')}.`);
  for (const cell of [...result.cells].sort((a, b) => a.index - b.index)) for (const note of cell.notes) notes.push(`${cell.id}: ${note}`);
  notes.push(...methodNotes(result, comparisons));

  return {
    title: `meshbench — ${result.scenario.name}`,
    question: REPORT_QUESTION,
    verdict: verdictSentence(result, groups, comparisons),
    groups,
    comparisons,
    charts,
    plannedCells: planned.length,
    missingCells,
    probes: probeInfo(result),
    notes,
  };
}
