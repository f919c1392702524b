// The published dashboard over many runs (nightly CI's history): one static page with a
// trend line per mesh for each figure and cell group, regressions marked where the
// compare gate (same rule, same threshold) flagged them against the previous run, and a
// link to every run's report.html. Self-contained like a run's report (charts inlined).
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { InputError } from '../harness/errors.ts';
import { groupId, METRICS, metricValue, type MetricName } from '../harness/analysis/compare.ts';
import { readRunResult } from '../harness/analysis/resultFile.ts';
import { axisProblems, compareRuns, type RunComparison } from '../harness/analysis/runComparison.ts';
import { medianOf } from '../harness/analysis/stats.ts';
import { CELLS_FILE, RESULT_FILE, writeFileAtomic } from '../harness/results/files.ts';
import type { RunResult } from '../harness/results/types.ts';
import { chartSlot, escapeHtml, htmlTable, page, type ChartSlot } from './html.ts';
import { buildReportModel, cellGroups, groupLabel } from './model.ts';
import { REPORT_FILE, renderReport } from './report.ts';
import { trendSpec, type TrendRow } from './specs.ts';

export const DASHBOARD_FILE = 'index.html';
export const DASHBOARD_DATA_FILE = 'history.json';
const TREND_METRICS: readonly MetricName[] = ['p50', 'p99', 'rps', 'cpuPer1kRps'];

export interface HistoryRun {
  /** The run directory's name inside HISTORY_DIR. */
  name: string;
  dir: string;
  result: RunResult;
  verdict: string;
  /** Link from the site's index.html to the run's report. */
  reportHref: string;
  /** The gate against the previous run, when the two are comparable. */
  comparison?: RunComparison;
  /** Why there is no comparison with the previous run. */
  notCompared?: string;
}

export interface DashboardOptions {
  thresholdPct: number;
  /** Bootstrap replicates per comparison (default as the gate). */
  iterations?: number;
}

export interface Dashboard {
  indexPath: string;
  runs: HistoryRun[];
  skipped: Array<{ dir: string; why: string }>;
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep);
}

/** Run directories of HISTORY_DIR: every subdirectory (one level, or two for `YYYY/…` layouts) holding a result.json. */
export function findRunDirs(historyDir: string): string[] {
  const found: string[] = [];
  const visit = (dir: string, depth: number) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      // A killed run may hold only cells.jsonl: still a run (readRunResult rebuilds it).
      if (existsSync(join(path, RESULT_FILE)) || existsSync(join(path, CELLS_FILE))) found.push(path);
      else if (depth < 2) visit(path, depth + 1);
    }
  };
  visit(historyDir, 1);
  return found.sort();
}

export async function buildDashboard(historyDir: string, siteDir: string, options: DashboardOptions): Promise<Dashboard> {
  if (!existsSync(historyDir) || !statSync(historyDir).isDirectory()) {
    throw new InputError(historyDir, [{ path: '', message: 'no such history directory (a directory of run directories, each with a result.json)' }]);
  }
  const skipped: Dashboard['skipped'] = [];
  const loaded: Array<{ dir: string; result: RunResult }> = [];
  for (const dir of findRunDirs(historyDir)) {
    try {
      loaded.push({ dir, result: readRunResult(dir) });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      skipped.push({ dir, why: err.message });
    }
  }
  if (loaded.length === 0) {
    throw new InputError(historyDir, [
      { path: '', message: `no readable run results (${skipped.length} skipped)${skipped.length > 0 ? `: ${skipped.map((s) => s.why).join('; ')}` : ''}` },
    ]);
  }
  loaded.sort((a, b) => a.result.startedAt.localeCompare(b.result.startedAt) || a.dir.localeCompare(b.dir));
  mkdirSync(siteDir, { recursive: true });

  const runs: HistoryRun[] = [];
  for (const { dir, result } of loaded) {
    const name = relative(historyDir, dir).split(sep).join('-');
    const existing = join(dir, REPORT_FILE);
    let reportPath: string;
    if (isInside(dir, siteDir) && existsSync(existing)) {
      reportPath = existing; // already published with the site
    } else {
      const target = join(siteDir, 'runs', name);
      mkdirSync(target, { recursive: true });
      reportPath = join(target, REPORT_FILE);
      if (existsSync(existing)) copyFileSync(existing, reportPath);
      else writeFileAtomic(reportPath, renderReport(result));
    }
    const previous = runs.at(-1);
    const run: HistoryRun = {
      name,
      dir,
      result,
      verdict: buildReportModel(result).verdict,
      reportHref: relative(siteDir, reportPath).split(sep).join('/'),
    };
    if (previous) {
      const problems = axisProblems(previous.result, result);
      if (problems.length === 0) {
        run.comparison = compareRuns(previous.result, result, { thresholdPct: options.thresholdPct, iterations: options.iterations });
      } else {
        run.notCompared = `not comparable with ${previous.result.runId}: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`;
      }
    }
    runs.push(run);
  }

  const charts = trendCharts(runs);
  const indexPath = join(siteDir, DASHBOARD_FILE);
  writeFileAtomic(indexPath, renderDashboard(runs, skipped, charts, options));
  writeFileAtomic(join(siteDir, DASHBOARD_DATA_FILE), `${JSON.stringify(historyData(runs, skipped, options), (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  return { indexPath, runs, skipped };
}

interface TrendChart extends ChartSlot {
  title: string;
  groupKey: string;
}

/** Trend rows for one cell group (protocol × services) and metric: per run and mesh, the median over repeats. */
export function trendRows(runs: readonly HistoryRun[], protocol: string, services: number, metric: MetricName): TrendRow[] {
  const rows: TrendRow[] = [];
  for (const run of runs) {
    const group = cellGroups(run.result).find((g) => g.protocol === protocol && g.services === services);
    if (!group) continue;
    for (const mesh of [...new Set(group.cells.map((c) => c.mesh))]) {
      const values = group.cells.filter((c) => c.mesh === mesh).map((c) => metricValue(c, metric));
      if (values.length === 0 || values.some((v) => v === undefined || !Number.isFinite(v))) continue;
      const key = groupId({ mesh, protocol: group.protocol, services });
      const gated = run.comparison?.groups.find((g) => g.group === key)?.metrics.find((m) => m.metric === metric);
      rows.push({
        runId: run.result.runId,
        startedAt: run.result.startedAt,
        mesh,
        value: Math.round(medianOf(values as number[]) * 100) / 100,
        low: null,
        high: null,
        regression: gated?.verdict === 'regression',
        href: run.reportHref,
      });
    }
  }
  return rows;
}

function trendCharts(runs: readonly HistoryRun[]): TrendChart[] {
  const groups = new Map<string, { protocol: string; services: number }>();
  for (const run of runs) for (const g of cellGroups(run.result)) groups.set(g.key, { protocol: g.protocol, services: g.services });
  const ordered = [...groups].sort((a, b) => a[1].protocol.localeCompare(b[1].protocol) || a[1].services - b[1].services);
  const charts: TrendChart[] = [];
  for (const [key, { protocol, services }] of ordered) {
    for (const metric of TREND_METRICS) {
      const rows = trendRows(runs, protocol, services, metric);
      if (rows.length === 0) continue;
      const info = METRICS[metric];
      const title = `${info.label} — ${groupLabel(protocol, services)}`;
      const axis = info.unit === 'µs' ? `${metric} (µs)` : info.unit;
      charts.push({
        id: `trend-${key}-${metric}`,
        title,
        groupKey: key,
        spec: trendSpec(title, 'median over each run’s repeats; ▲ = regression against the previous run; click a point for its report', axis, rows),
      });
    }
  }
  return charts;
}

function renderDashboard(runs: readonly HistoryRun[], skipped: Dashboard['skipped'], charts: readonly TrendChart[], options: DashboardOptions): string {
  const latest = runs.at(-1)!;
  const regressionsLatest = latest.comparison?.regressions ?? [];
  const status =
    latest.comparison === undefined
      ? latest.notCompared ?? 'the first run: nothing to compare with yet.'
      : regressionsLatest.length === 0
        ? `no regression beyond ${options.thresholdPct} % against the previous run.`
        : `${regressionsLatest.length} regression${regressionsLatest.length === 1 ? '' : 's'} against the previous run in ${[...new Set(regressionsLatest.map((r) => r.group))].join(', ')}.`;
  const groupKeys = [...new Set(charts.map((c) => c.groupKey))];
  const sections = groupKeys.map((key) => {
    const groupCharts = charts.filter((c) => c.groupKey === key);
    return [`<section id="group-${escapeHtml(key)}">`, `<h2>${escapeHtml(groupCharts[0]!.title.split(' — ').at(-1)!)}</h2>`, ...groupCharts.map((c) => chartSlot(c.id)), '</section>'].join('\n');
  });
  const runRows = [...runs].reverse().map((run) => {
    const c = run.comparison;
    const gate = c === undefined ? (run.notCompared ? 'not compared' : '—') : c.regressions.length === 0 ? 'ok' : `${c.regressions.length} regression${c.regressions.length === 1 ? '' : 's'}: ${[...new Set(c.regressions.map((r) => r.group))].join(', ')}`;
    return { run, gate, cells: [run.result.startedAt.slice(0, 16).replace('T', ' '), run.result.runId, run.result.scenario.name, run.result.status, String(run.result.cells.length), gate] };
  });
  const table = htmlTable({ header: ['started (UTC)', 'run', 'scenario', 'status', 'cells', `gate vs previous (${options.thresholdPct} %)`], rows: runRows.map((r) => r.cells), textColumns: [0, 1, 2, 3, 5] }, (i) =>
    runRows[i]!.run.comparison?.regressions.length ? 'bad' : undefined,
  );
  // Each run id links to its report: add the links after escaping (ids are [0-9a-z] but escape anyway).
  let linkedTable = table;
  for (const { run } of runRows) {
    const id = escapeHtml(run.result.runId);
    linkedTable = linkedTable.replace(`<td class="text">${id}</td>`, `<td class="text"><a href="${escapeHtml(encodeURI(run.reportHref))}">${id}</a></td>`);
  }
  const body = [
    '<header>',
    '<h1>meshbench — nightly history</h1>',
    `<p class="question">What a service mesh’s data plane costs, night after night: ${runs.length} run${runs.length === 1 ? '' : 's'} from ${escapeHtml(runs[0]!.result.startedAt.slice(0, 10))} to ${escapeHtml(latest.result.startedAt.slice(0, 10))}.</p>`,
    `<p class="verdict" id="verdict">Latest run <a href="${escapeHtml(encodeURI(latest.reportHref))}">${escapeHtml(latest.result.runId)}</a>: ${escapeHtml(latest.verdict)} Gate: ${escapeHtml(status)}</p>`,
    `<nav class="toc">${groupKeys.map((k) => `<a href="#group-${escapeHtml(k)}">${escapeHtml(k)}</a>`).join('')}<a href="#runs">all runs</a></nav>`,
    '</header>',
    ...sections,
    '<section id="runs">',
    '<h2>Runs</h2>',
    `<p class="caption">Each run links to its report. The gate compares a run with the one before it: a regression is a change beyond ${options.thresholdPct} % in the bad direction whose 95 % bootstrap interval excludes zero (as <code>meshbench compare</code>).</p>`,
    linkedTable,
    skipped.length > 0 ? `<h3>Skipped</h3><ul class="notes">${skipped.map((s) => `<li>${escapeHtml(s.why)}</li>`).join('')}</ul>` : '',
    '</section>',
    `<p class="meta">Built by <code>meshbench dashboard</code> from ${runs.length} result.json files; data in <a href="${DASHBOARD_DATA_FILE}">${DASHBOARD_DATA_FILE}</a>.</p>`,
  ].join('\n');
  return page({ title: 'meshbench — nightly history', body, charts: charts.map((c) => ({ id: c.id, spec: c.spec })) });
}

function historyData(runs: readonly HistoryRun[], skipped: Dashboard['skipped'], options: DashboardOptions) {
  return {
    thresholdPct: options.thresholdPct,
    runs: runs.map((run) => ({
      runId: run.result.runId,
      startedAt: run.result.startedAt,
      scenario: run.result.scenario.name,
      status: run.result.status,
      report: run.reportHref,
      verdict: run.verdict,
      regressions: run.comparison?.regressions ?? [],
      notCompared: run.notCompared,
    })),
    skipped,
  };
}
