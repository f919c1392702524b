// The regression gate: a run against an earlier one, cell group by cell group (mesh ×
// protocol × services). A regression is a change beyond the threshold, in the bad
// direction (latency or CPU up, throughput down), whose 95 % interval excludes zero.
// Pure: two results in, a comparison out; the CLI prints it and sets the exit code.
import { InputError, type InputProblem } from '../errors.ts';
import type { CellResult, RunResult } from '../results/types.ts';
import { byGroupOrder, compareMetric, groupId, METRICS, type MetricComparison, type MetricName } from './compare.ts';

/** What the gate fails on: latency at the median and in the tail up, throughput down. */
export const GATE_METRICS: readonly MetricName[] = ['p50', 'p99', 'rps'];
/**
 * Shown with their change and interval but not gated: CPU per 1000 req/s from /proc or the
 * probes moves by several percent between identical runs, and 3 + 3 repeats give it no
 * within-repeat resampling, so at a 5 % threshold it would fail some night out of every
 * few on noise alone (measured on the synthetic history: one false alarm in 8 nights).
 */
export const REPORTED_METRICS: readonly MetricName[] = ['cpuPer1kRps'];

export type Verdict = 'regression' | 'worse (not gated)' | 'improvement' | 'within noise' | 'below threshold';

export interface GatedMetric extends MetricComparison {
  /** Whether this metric can fail the gate. */
  gated: boolean;
  verdict: Verdict;
}

export interface GroupChange {
  /** e.g. `sidecar-http1-s4`. */
  group: string;
  mesh: CellResult['mesh'];
  protocol: CellResult['protocol'];
  services: number;
  /** Cell ids of both runs that went into it. */
  baseCells: string[];
  nextCells: string[];
  metrics: GatedMetric[];
}

export interface RunRef {
  runId: string;
  startedAt: string;
  scenario: string;
  status: RunResult['status'];
}

export interface RunComparison {
  base: RunRef;
  next: RunRef;
  thresholdPct: number;
  groups: GroupChange[];
  regressions: Array<{ group: string; metric: MetricName; changePct: number; lowPct: number; highPct: number }>;
  /** Cell groups measured in only one of the runs. */
  missing: Array<{ group: string; in: 'base' | 'next' }>;
  /** Settings that differ although the axes match, e.g. `workload.delayUs: 0 → 1000`. */
  scenarioDifferences: string[];
  environmentDifferences: string[];
}

/** Problems that make two runs incomparable: their scenario axes differ. */
export function axisProblems(base: RunResult, next: RunResult): InputProblem[] {
  const problems: InputProblem[] = [];
  for (const axis of ['meshes', 'protocols', 'services'] as const) {
    const a = [...(base.scenario[axis] as Array<string | number>)].map(String).sort();
    const b = [...(next.scenario[axis] as Array<string | number>)].map(String).sort();
    if (a.join(',') !== b.join(',')) {
      problems.push({
        path: `scenario.${axis}`,
        message: `differs: [${base.scenario[axis].join(', ')}] in ${base.runId}, [${next.scenario[axis].join(', ')}] in ${next.runId}; compare runs of the same matrix`,
      });
    }
  }
  if (base.scenario.load.model !== next.scenario.load.model) {
    problems.push({ path: 'scenario.load.model', message: `differs: ${base.scenario.load.model} vs ${next.scenario.load.model}; open-model latency and closed-model capacity are different measurements` });
  }
  return problems;
}

function flatten(value: unknown, prefix: string, into: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, into);
  } else {
    into.set(prefix, JSON.stringify(value));
  }
}

function differences(a: unknown, b: unknown, skip: (key: string) => boolean): string[] {
  const left = new Map<string, string>();
  const right = new Map<string, string>();
  flatten(a, '', left);
  flatten(b, '', right);
  const keys = [...new Set([...left.keys(), ...right.keys()])].filter((k) => !skip(k)).sort();
  return keys.filter((k) => left.get(k) !== right.get(k)).map((k) => `${k}: ${left.get(k) ?? '(none)'} → ${right.get(k) ?? '(none)'}`);
}

function verdictOf(m: MetricComparison, thresholdPct: number, gated: boolean): Verdict {
  const worseUp = METRICS[m.metric].worse === 'higher';
  const { estimatePct, low, high } = m.change;
  const significant = low > 0 || high < 0;
  if (!significant) return 'within noise';
  const bad = worseUp ? low > 0 : high < 0;
  const beyond = Number.isFinite(estimatePct) && Math.abs(estimatePct) > thresholdPct;
  if (!beyond) return 'below threshold';
  if (!bad) return 'improvement';
  return gated ? 'regression' : 'worse (not gated)';
}

function groupCells(result: RunResult): Map<string, CellResult[]> {
  const groups = new Map<string, CellResult[]>();
  for (const cell of result.cells) {
    const key = groupId(cell);
    groups.set(key, [...(groups.get(key) ?? []), cell]);
  }
  for (const cells of groups.values()) cells.sort((a, b) => a.repeat - b.repeat);
  return groups;
}

function ref(result: RunResult): RunRef {
  return { runId: result.runId, startedAt: result.startedAt, scenario: result.scenario.name, status: result.status };
}

export interface RunComparisonOptions {
  thresholdPct: number;
  /** Metrics that fail the gate (default GATE_METRICS); REPORTED_METRICS are shown besides. */
  metrics?: readonly MetricName[];
  iterations?: number;
}

/** Throws InputError (exit 2) when the runs' axes differ. */
export function compareRuns(base: RunResult, next: RunResult, options: RunComparisonOptions): RunComparison {
  const problems = axisProblems(base, next);
  if (problems.length > 0) throw new InputError(`compare ${base.runId} ${next.runId}`, problems);
  const gate = options.metrics ?? GATE_METRICS;
  const metrics = [...gate, ...REPORTED_METRICS.filter((m) => !gate.includes(m))];
  const baseGroups = groupCells(base);
  const nextGroups = groupCells(next);
  const keys = [...new Set([...baseGroups.keys(), ...nextGroups.keys()])];
  const sample = (key: string) => (baseGroups.get(key) ?? nextGroups.get(key))![0]!;
  keys.sort((a, b) => byGroupOrder(sample(a), sample(b)));

  const groups: GroupChange[] = [];
  const missing: RunComparison['missing'] = [];
  for (const key of keys) {
    const baseCells = baseGroups.get(key);
    const nextCells = nextGroups.get(key);
    if (!baseCells || !nextCells) {
      missing.push({ group: key, in: baseCells ? 'base' : 'next' });
      continue;
    }
    const gated = metrics.flatMap((metric) => {
      // The same seed for the same group and metric in every comparison: reproducible gates.
      const m = compareMetric(baseCells, nextCells, metric, `runs|${key}`, { iterations: options.iterations });
      const gated = gate.includes(metric);
      return m ? [{ ...m, gated, verdict: verdictOf(m, options.thresholdPct, gated) }] : [];
    });
    const { mesh, protocol, services } = sample(key);
    groups.push({ group: key, mesh, protocol, services, baseCells: baseCells.map((c) => c.id), nextCells: nextCells.map((c) => c.id), metrics: gated });
  }
  const regressions = groups.flatMap((g) =>
    g.metrics
      .filter((m) => m.verdict === 'regression')
      .map((m) => ({ group: g.group, metric: m.metric, changePct: m.change.estimatePct, lowPct: m.change.lowPct, highPct: m.change.highPct })),
  );
  const scenarioDifferences = differences(base.scenario, next.scenario, (k) => k.startsWith('meshes') || k.startsWith('protocols') || k.startsWith('services'));
  const environmentDifferences = differences(
    { kernel: base.environment.kernel, cpuModel: base.environment.cpuModel, cores: base.environment.cores, proxy: base.environment.proxy, placement: base.environment.placement },
    { kernel: next.environment.kernel, cpuModel: next.environment.cpuModel, cores: next.environment.cores, proxy: next.environment.proxy, placement: next.environment.placement },
    () => false,
  );
  return { base: ref(base), next: ref(next), thresholdPct: options.thresholdPct, groups, regressions, missing, scenarioDifferences, environmentDifferences };
}

/** `5%`, `5 %`, `5`, `2.5%` → 5, 5, 5, 2.5 (percent). */
export function parseThreshold(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const value = match ? Number(match[1]) : Number.NaN;
  if (!match || !(value >= 0 && value < 1000)) {
    throw new InputError('--threshold', [{ path: '--threshold', message: `must be a percentage such as "5%", got ${JSON.stringify(text)}` }]);
  }
  return value;
}
