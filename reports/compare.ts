// The regression gate's output: an aligned table for the terminal, markdown (--md, e.g. a
// CI job summary) and JSON (--json). Pure: a RunComparison in, text out.
import { METRICS, type MetricName } from '../harness/analysis/compare.ts';
import type { GatedMetric, RunComparison } from '../harness/analysis/runComparison.ts';
import type { Spread } from '../harness/analysis/stats.ts';
import { formatRps, formatUs } from '../harness/results/summary.ts';
import { changeText, pText } from './model.ts';

function figure(metric: MetricName, value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (METRICS[metric].unit === 'µs') return formatUs(value);
  if (metric === 'rps') return `${formatRps(value)} req/s`;
  return `${value.toFixed(0)} mCPU/1k req/s`;
}

function spreadText(metric: MetricName, spread: Spread): string {
  const main = figure(metric, spread.median);
  return spread.n > 1 ? `${main} (n=${spread.n})` : main;
}

const VERDICT_TEXT: Record<GatedMetric['verdict'], string> = {
  regression: 'REGRESSION',
  improvement: 'improved',
  'within noise': 'within noise',
  'below threshold': 'changed, below threshold',
  'worse (not gated)': 'worse (not gated)',
};

interface Table {
  header: string[];
  rows: string[][];
}

function comparisonTable(comparison: RunComparison): Table {
  const header = ['cells', 'figure', 'base', 'new', 'change [95 % CI]', 'p', 'verdict'];
  const rows = comparison.groups.flatMap((g) =>
    g.metrics.map((m) => [g.group, m.metric, spreadText(m.metric, m.base), spreadText(m.metric, m.next), changeText(m), pText(m), VERDICT_TEXT[m.verdict]]),
  );
  return { header, rows };
}

function headline(comparison: RunComparison): string {
  const { base, next, regressions, thresholdPct } = comparison;
  const subject = `${next.runId} (${next.startedAt}) against ${base.runId} (${base.startedAt})`;
  if (regressions.length === 0) return `No regression beyond ${thresholdPct} %: ${subject}.`;
  const named = [...new Set(regressions.map((r) => r.group))];
  return `${regressions.length} ${regressions.length === 1 ? 'regression' : 'regressions'} beyond ${thresholdPct} % in ${named.join(', ')}: ${subject}.`;
}

function footnotes(comparison: RunComparison): string[] {
  const notes = [
    `A regression is a change beyond ${comparison.thresholdPct} % in the bad direction (latency up, throughput down) whose 95 % bootstrap interval excludes zero; change = median over the new run's repeats − median over the base run's. CPU per 1000 req/s is shown but not gated (too noisy between identical runs).`,
  ];
  for (const r of comparison.regressions) {
    notes.push(`regression: ${r.group} ${METRICS[r.metric].label} ${r.changePct >= 0 ? '+' : ''}${r.changePct.toFixed(1)} % [${r.lowPct.toFixed(1)} … ${r.highPct.toFixed(1)} %]`);
  }
  for (const m of comparison.missing) notes.push(`${m.group}: measured only in the ${m.in === 'base' ? 'base' : 'new'} run, not compared.`);
  if (comparison.next.status !== 'complete') notes.push(`the new run is ${comparison.next.status}; missing cells are not compared.`);
  if (comparison.base.status !== 'complete') notes.push(`the base run is ${comparison.base.status}.`);
  if (comparison.scenarioDifferences.length > 0) notes.push(`scenario settings differ: ${comparison.scenarioDifferences.join('; ')}.`);
  if (comparison.environmentDifferences.length > 0) notes.push(`environment differs: ${comparison.environmentDifferences.join('; ')}.`);
  return notes;
}

export function formatComparisonText(comparison: RunComparison): string {
  const table = comparisonTable(comparison);
  const all = [table.header, ...table.rows];
  const widths = table.header.map((_, c) => Math.max(...all.map((row) => [...row[c]!].length)));
  const line = (row: string[]) => row.map((cell, c) => (c <= 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  // padEnd counts UTF-16 units; µ, –, … are one unit each, so the columns stay aligned.
  return [
    headline(comparison),
    '',
    line(table.header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.rows.map(line),
    '',
    ...footnotes(comparison).map((n) => `- ${n}`),
    '',
  ].join('\n');
}

export function formatComparisonMarkdown(comparison: RunComparison): string {
  const table = comparisonTable(comparison);
  const row = (cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  const bold = (cells: string[]) => (cells[6] === 'REGRESSION' ? cells.map((c) => `**${c}**`) : cells);
  return [
    `## meshbench compare: ${comparison.regressions.length === 0 ? 'no regression' : `${comparison.regressions.length} regression${comparison.regressions.length === 1 ? '' : 's'}`}`,
    '',
    headline(comparison),
    '',
    row(table.header),
    row(table.header.map((_, c) => (c <= 1 ? ':---' : '---:'))),
    ...table.rows.map((r) => row(bold(r))),
    '',
    ...footnotes(comparison).map((n) => `- ${n}`),
    '',
  ].join('\n');
}

export function formatComparisonJson(comparison: RunComparison): string {
  // NaN is not JSON: such figures become null.
  return `${JSON.stringify(comparison, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}
