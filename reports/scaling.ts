// The report's "cost as the node fills" section: memory, CPU and p99 against the services on
// the node, per mesh, with the fitted lines; the idle cost; the fit table with its
// extrapolation to 100 and 250 services and the caveat. Pure: a RunResult in, charts (as
// vega-lite specs) and HTML out. Present only when the run measured two or more service
// counts (or an idle window).
import type { TopLevelSpec } from 'vega-lite';
import { EXTRAPOLATION_CAVEAT, SCALING_METRIC_INFO, scalingValue, type ScalingMetric } from '../harness/analysis/scaling.ts';
import { medianOf } from '../harness/analysis/stats.ts';
import { scalingTables, storedFits } from '../harness/results/scalingTables.ts';
import type { RunResult } from '../harness/results/types.ts';
import { MESH_NAMES, PROTOCOLS } from '../harness/scenario/types.ts';
import { chartSlot, escapeHtml, htmlTable } from './html.ts';
import type { ReportChart } from './model.ts';
import { CHART_CONFIG, meshScale } from './specs.ts';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export interface ScalingChartRow {
  mesh: string;
  services: number;
  value: number;
  /** `cell`: one cell's figure; `fit`: an end of the fitted line; `median`: median over repeats. */
  kind: 'cell' | 'fit' | 'median';
}

/**
 * Figure against services: each cell a point, and per mesh the fitted line (dashed) or the
 * line through the medians. `log`: a log y axis (latency tails span decades on a busy host).
 */
export function scalingSpec(title: string, subtitle: string, yTitle: string, rows: readonly ScalingChartRow[], log = false): TopLevelSpec {
  const x = { field: 'services', type: 'quantitative' as const, title: 'services on the node', scale: { zero: true } };
  const yScale = log ? { scale: { type: 'log' as const } } : {};
  const color = { field: 'mesh', type: 'nominal' as const, title: 'data path', scale: meshScale() };
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle },
    width: 420,
    height: 260,
    config: CHART_CONFIG,
    data: { values: rows.map((r) => ({ ...r })) },
    layer: [
      {
        transform: [{ filter: "datum.kind === 'fit'" }],
        mark: { type: 'line', strokeDash: [6, 3], strokeWidth: 1.6 },
        encoding: { x, y: { field: 'value', type: 'quantitative', title: yTitle, ...yScale }, color },
      },
      {
        transform: [{ filter: "datum.kind === 'median'" }],
        mark: { type: 'line', strokeWidth: 1.6, point: { size: 20 } },
        encoding: { x, y: { field: 'value', type: 'quantitative', title: yTitle, ...yScale }, color },
      },
      {
        transform: [{ filter: "datum.kind === 'cell'" }],
        mark: { type: 'point', filled: true, size: 36, opacity: 0.7 },
        encoding: {
          x,
          y: { field: 'value', type: 'quantitative', title: yTitle, ...yScale },
          color,
          tooltip: [
            { field: 'mesh', type: 'nominal', title: 'data path' },
            { field: 'services', type: 'quantitative', title: 'services' },
            { field: 'value', type: 'quantitative', title: yTitle, format: ',.2f' },
          ],
        },
      },
    ],
  };
}

interface ChartDef {
  metric: ScalingMetric;
  id: string;
  title: string;
  yTitle: string;
  /** A fitted line (cost models), or the line through the medians (latency: no shape assumed). */
  line: 'fit' | 'median';
  log?: boolean;
  caption: string;
}

const CHARTS: ChartDef[] = [
  {
    metric: 'proxyMemory',
    id: 'scaling-memory',
    title: 'Proxy memory as the node fills',
    yTitle: 'proxy memory, peak RSS (MiB)',
    line: 'fit',
    caption: 'Peak resident memory of the data path’s own proxies over the measured window (eBPF memory probe), summed: a sidecar per pod, or the one node proxy. Each point a cell; the dashed line the least-squares fit. Baseline and ebpf-l4 run no proxy (0).',
  },
  {
    metric: 'nodeCpu',
    id: 'scaling-cpu',
    title: 'CPU as the node fills',
    yTitle: 'CPU of apps + proxies (mCPU)',
    line: 'fit',
    caption: 'CPU of everything on the node but the load driver (apps and proxies, kernel work served on their time included) over the measured window, in millicores, at the same total load whatever the service count.',
  },
  {
    metric: 'p99',
    id: 'scaling-p99',
    title: 'p99 latency as the node fills',
    yTitle: 'p99 latency (µs, log scale)',
    line: 'median',
    log: true,
    caption: 'p99 of the load, each point a cell, the line through the medians over repeats (log scale: on a shared host one noisy cell can be ten times the others). Saturated cells are left out.',
  },
  {
    metric: 'idleProxyMemory',
    id: 'scaling-idle-memory',
    title: 'Idle: proxy memory',
    yTitle: 'proxy memory, idle (MiB)',
    line: 'fit',
    caption: 'The same proxies with no load at all (the idle window before each cell’s load): what the data path holds on a quiet node.',
  },
  {
    metric: 'idleProxyCpu',
    id: 'scaling-idle-cpu',
    title: 'Idle: proxy CPU',
    yTitle: 'proxy CPU, idle (mCPU)',
    line: 'fit',
    caption: 'CPU the proxies use while nothing happens (timers, health and housekeeping wake-ups), in millicores.',
  },
];

function hasSweep(result: RunResult): boolean {
  return storedFits(result).some((f) => f.fit);
}

/** The protocol the section draws: the first the run measured (charts do not mix protocols). */
function chartProtocol(result: RunResult): string | undefined {
  return PROTOCOLS.find((p) => result.cells.some((c) => c.protocol === p));
}

/** The section's charts; none unless the run measured two or more service counts. */
export function scalingCharts(result: RunResult): ReportChart[] {
  if (!hasSweep(result)) return [];
  const protocol = chartProtocol(result);
  const cells = result.cells.filter((c) => c.protocol === protocol);
  const fits = storedFits(result).filter((f) => f.protocol === protocol);
  const charts: ReportChart[] = [];
  for (const def of CHARTS) {
    const rows: ScalingChartRow[] = [];
    for (const cell of cells) {
      const value = scalingValue(cell, def.metric);
      if (value !== undefined && Number.isFinite(value)) rows.push({ mesh: cell.mesh, services: cell.services, value, kind: 'cell' });
    }
    if (rows.length === 0) continue;
    for (const mesh of MESH_NAMES) {
      const mine = rows.filter((r) => r.mesh === mesh && r.kind === 'cell');
      if (mine.length === 0) continue;
      const fit = fits.find((f) => f.mesh === mesh && f.metric === def.metric)?.fit;
      if (def.line === 'fit' && fit) {
        for (const x of [fit.xMin, fit.xMax]) rows.push({ mesh, services: x, value: fit.intercept + fit.slope * x, kind: 'fit' });
      } else if (def.line === 'fit' && mine.every((r) => r.value === 0)) {
        // No proxy: a flat line at 0 says it plainly.
        const xs = mine.map((r) => r.services);
        for (const x of [Math.min(...xs), Math.max(...xs)]) rows.push({ mesh, services: x, value: 0, kind: 'fit' });
      } else {
        for (const services of [...new Set(mine.map((r) => r.services))].sort((a, b) => a - b)) {
          rows.push({ mesh, services, value: medianOf(mine.filter((r) => r.services === services).map((r) => r.value)), kind: 'median' });
        }
      }
    }
    charts.push({
      id: def.id,
      title: def.title,
      caption: def.caption,
      spec: scalingSpec(def.title, `${protocol}; ${SCALING_METRIC_INFO[def.metric].label}`, def.yTitle, rows, def.log),
    });
  }
  return charts;
}

/** The section's HTML (charts by id from the model's list); '' when there is nothing to show. */
export function scalingSection(result: RunResult, charts: readonly ReportChart[]): string {
  const tables = scalingTables(result);
  const mine = charts.filter((c) => c.id.startsWith('scaling-'));
  if (tables.length === 0 && mine.length === 0) return '';
  const fits = storedFits(result).filter((f) => f.fit);
  const extrapolated = fits.some((f) => f.at.some((v) => v.extrapolated));
  return [
    `<section id="scaling">`,
    `<h2>Cost as the node fills</h2>`,
    `<p class="caption">Each added service is a server pod behind its own VIP — with sidecars, one more proxy; with the eBPF path, one more listener on the one node proxy. ` +
      `The lines are ordinary least-squares fits through every cell (each repeat a point): the slope is the cost of one more service, with its 95 % interval (OLS, Student t) and R².</p>`,
    ...mine.map((c) => chartSlot(`chart-${c.id}`, escapeHtml(c.caption))),
    ...tables.map((t) => `<h3>${escapeHtml(t.heading)}</h3>\n${htmlTable({ header: t.header, rows: t.rows, textColumns: [0, 1] })}`),
    extrapolated ? `<p class="caption">* extrapolated. ${escapeHtml(EXTRAPOLATION_CAVEAT)}</p>` : '',
    `</section>`,
  ].join('\n');
}

/** Whether the report has this section (for the table of contents). */
export function hasScalingSection(result: RunResult): boolean {
  return hasSweep(result) || result.cells.some((c) => c.idle);
}
