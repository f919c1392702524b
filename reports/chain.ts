// The report's "cost per hop" section (scenario `chain`): latency and CPU against the
// services a request crosses, per mesh, each cell a point and the stored least-squares line
// (result.json analysis.chain) dashed; then the tables of harness/results/chainTables.ts.
// Pure: a RunResult in, charts (vega-lite specs) and HTML out. Present only when the run
// stored a chain fit.
import type { TopLevelSpec } from 'vega-lite';
import type { ChainMetric } from '../harness/analysis/chain.ts';
import { SCALING_METRIC_INFO, scalingValue } from '../harness/analysis/scaling.ts';
import { chainTables, storedChainFits } from '../harness/results/chainTables.ts';
import type { RunResult } from '../harness/results/types.ts';
import { PROTOCOLS, REFERENCE_MESH } from '../harness/scenario/types.ts';
import { chartSlot, escapeHtml, htmlTable } from './html.ts';
import type { ReportChart } from './model.ts';
import { CHART_CONFIG, meshScale } from './specs.ts';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export interface ChainChartRow {
  mesh: string;
  chain: number;
  value: number;
  /** `cell`: one cell's figure; `fit`: an end of the fitted line. */
  kind: 'cell' | 'fit';
}

export function chainSpec(title: string, subtitle: string, yTitle: string, rows: readonly ChainChartRow[]): TopLevelSpec {
  const x = { field: 'chain', type: 'quantitative' as const, title: 'services a request crosses', scale: { zero: true }, axis: { tickMinStep: 1 } };
  const y = { field: 'value', type: 'quantitative' as const, title: yTitle };
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
        encoding: { x, y, color },
      },
      {
        transform: [{ filter: "datum.kind === 'cell'" }],
        mark: { type: 'point', filled: true, size: 36, opacity: 0.7 },
        encoding: {
          x,
          y,
          color,
          tooltip: [
            { field: 'mesh', type: 'nominal', title: 'data path' },
            { field: 'chain', type: 'quantitative', title: 'services crossed' },
            { field: 'value', type: 'quantitative', title: yTitle, format: ',.2f' },
          ],
        },
      },
    ],
  };
}

const CHARTS: Array<{ metric: ChainMetric; id: string; title: string; yTitle: string; caption: string }> = [
  {
    metric: 'p50',
    id: 'chain-p50',
    title: 'p50 latency per hop',
    yTitle: 'p50 latency (µs)',
    caption: 'p50 of the load against the services a request crosses: each point a cell, the dashed line the least-squares fit; its slope is the latency of one more hop. Saturated cells are left out.',
  },
  {
    metric: 'nodeCpu',
    id: 'chain-cpu',
    title: 'CPU per hop',
    yTitle: 'CPU of apps + proxies (mCPU)',
    caption: `CPU of everything on the node but the load driver (apps and proxies) at the same request rate, against the services crossed. A hop of ${REFERENCE_MESH} costs an app; a mesh adds its proxies' work.`,
  },
];

/** The protocol the section draws: the first with a chain fit. */
function chartProtocol(result: RunResult): string | undefined {
  const fits = storedChainFits(result);
  return PROTOCOLS.find((p) => fits.some((f) => f.protocol === p));
}

export function chainCharts(result: RunResult): ReportChart[] {
  const protocol = chartProtocol(result);
  if (!protocol) return [];
  const fits = storedChainFits(result).filter((f) => f.protocol === protocol);
  const services = fits[0]!.services;
  const cells = result.cells.filter((c) => c.protocol === protocol && c.services === services && c.status !== 'failed');
  const charts: ReportChart[] = [];
  for (const def of CHARTS) {
    const rows: ChainChartRow[] = [];
    for (const cell of cells) {
      const value = scalingValue(cell, def.metric);
      if (value !== undefined && Number.isFinite(value)) rows.push({ mesh: cell.mesh, chain: cell.chain ?? 1, value, kind: 'cell' });
    }
    if (rows.length === 0) continue;
    for (const f of fits.filter((fit) => fit.metric === def.metric)) {
      for (const x of [f.fit!.xMin, f.fit!.xMax]) rows.push({ mesh: f.mesh, chain: x, value: f.fit!.intercept + f.fit!.slope * x, kind: 'fit' });
    }
    charts.push({ id: def.id, title: def.title, caption: def.caption, spec: chainSpec(def.title, `${protocol}; ${SCALING_METRIC_INFO[def.metric].label}`, def.yTitle, rows) });
  }
  return charts;
}

export function hasChainSection(result: RunResult): boolean {
  return storedChainFits(result).length > 0;
}

export function chainSection(result: RunResult, charts: readonly ReportChart[]): string {
  if (!hasChainSection(result)) return '';
  const tables = chainTables(result);
  const mine = charts.filter((c) => c.id.startsWith('chain-'));
  return [
    `<section id="chain">`,
    `<h2>Cost per hop</h2>`,
    `<p class="caption">A request enters service 1, whose server app calls the next service through the mesh (as its client, with its own keep-alive pool) before answering, and so on; the workload delay is made at the last. ` +
      `With sidecars every hop crosses two proxies, with the eBPF path the node proxy once, with ebpf-l4 none. The lines are least-squares fits through every cell (each repeat a point): the slope is the cost of one more hop, with its 95 % interval, and the mesh's own cost per hop is that slope minus ${escapeHtml(REFERENCE_MESH)}'s.</p>`,
    ...mine.map((c) => chartSlot(`chart-${c.id}`, escapeHtml(c.caption))),
    ...tables.map((t) => `<h3>${escapeHtml(t.heading)}</h3>\n${htmlTable({ header: t.header, rows: t.rows, textColumns: [0, 1] })}`),
    `</section>`,
  ].join('\n');
}
