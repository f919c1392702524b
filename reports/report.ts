// report.html: one self-contained page per run (vega and vega-lite inlined, no network),
// computed from result.json alone. Pure: a RunResult in, HTML text out. Every piece of
// text that came from the scenario, the host or a note is escaped.
import { cellUsage } from '../harness/analysis/efficiency.ts';
import { METRICS, type MeshComparison } from '../harness/analysis/compare.ts';
import { medianOf } from '../harness/analysis/stats.ts';
import { formatRps, formatUs } from '../harness/results/summary.ts';
import type { CellResult, RunResult } from '../harness/results/types.ts';
import { meshModule } from '../harness/mesh/index.ts';
import { REFERENCE_MESH } from '../harness/scenario/types.ts';
import { chartSlot, escapeHtml, htmlTable, page } from './html.ts';
import { hasScalingSection, scalingSection } from './scaling.ts';
import { securitySection } from './security.ts';
import { chainSection, hasChainSection } from './chain.ts';
import { decompositionSection, hasDecompositionSection } from './decomposition.ts';
import { buildReportModel, changeText, inGroup, meshesIn, pText, type CellGroup, type ReportModel } from './model.ts';

export const REPORT_FILE = 'report.html';

/** `model` may be passed when the caller already built it (it is what result gives anyway). */
export function renderReport(result: RunResult, model: ReportModel = buildReportModel(result)): string {
  const body = [
    header(result, model),
    toc(model, result),
    ...model.groups.map((group) => groupSection(group, model)),
    securitySection(result),
    throughputAndUsage(model),
    scalingSection(result, model.charts),
    chainSection(result, model.charts),
    decompositionSection(result, model.charts),
    cellsSection(result),
    environmentSection(result),
    probesSection(model),
    notesSection(model),
    `<p class="meta">Rendered by meshbench ${escapeHtml(result.meshbench)} from <code>result.json</code> (${escapeHtml(result.schema)}); re-render with <code>meshbench report RUN_DIR</code>.</p>`,
  ].join('\n');
  return page({ title: model.title, body, charts: model.charts.map((c) => ({ id: `chart-${c.id}`, spec: c.spec })) });
}

function header(result: RunResult, model: ReportModel): string {
  const load = result.scenario.load;
  const loadText =
    `${load.model === 'open' ? `open model at ${formatRps(load.rate ?? 0)} req/s` : 'closed model'}, ${load.connections} connections, ` +
    `${load.durationMs / 1000} s measured after ${load.warmupMs / 1000} s warm-up, ${result.scenario.repeats} repeats, ` +
    `${result.scenario.workload.responseBytes} B responses, server delay ${result.scenario.workload.delayUs > 0 ? formatUs(result.scenario.workload.delayUs) : 'none'}, driver ${load.driver}`;
  const status = result.status === 'complete' ? 'complete' : `<span class="bad">${escapeHtml(result.status)}</span>`;
  return [
    `<header>`,
    `<h1>${escapeHtml(model.title)}</h1>`,
    `<p class="question">${escapeHtml(model.question)}</p>`,
    `<p class="verdict" id="verdict">${escapeHtml(model.verdict)}</p>`,
    `<p class="meta">Run <code>${escapeHtml(result.runId)}</code>, ${escapeHtml(result.startedAt)}${result.finishedAt ? ` to ${escapeHtml(result.finishedAt)}` : ''}, ${status}: ` +
      `${result.cells.length} of ${model.plannedCells} cells measured. Load: ${escapeHtml(loadText)}. ` +
      `Proxy: ${escapeHtml(result.environment.proxy.name)} ${escapeHtml(result.environment.proxy.version)}.</p>`,
    `</header>`,
  ].join('\n');
}

function toc(model: ReportModel, result: RunResult): string {
  const links = [
    ...model.groups.map((g) => [`group-${g.key}`, g.label]),
    ['throughput-usage', 'throughput, CPU, memory'],
    ...(hasScalingSection(result) ? [['scaling', 'cost as the node fills']] : []),
    ...(hasChainSection(result) ? [['chain', 'cost per hop']] : []),
    ...(hasDecompositionSection(result) ? [['decomposition', 'where the latency goes']] : []),
    ['cells', 'all cells'],
    ['environment', 'environment'],
    ['probes', 'probes'],
    ['notes', 'notes'],
  ];
  return `<nav class="toc">${links.map(([id, label]) => `<a href="#${escapeHtml(id!)}">${escapeHtml(label!)}</a>`).join('')}</nav>`;
}

function chartFigure(model: ReportModel, id: string): string {
  const chart = model.charts.find((c) => c.id === id);
  return chart ? chartSlot(`chart-${chart.id}`, escapeHtml(chart.caption)) : '';
}

function spreadText(values: number[], format: (v: number) => string): string {
  if (values.length === 0) return '—';
  const main = format(medianOf(values));
  return values.length < 2 ? main : `${main} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
}

function groupSection(group: CellGroup, model: ReportModel): string {
  const comparisons = model.comparisons.filter((c) => inGroup(c, group));
  const header = ['data path', 'p50', 'p99', 'p99.9', 'achieved req/s', 'errors', 'Δp50 vs baseline [95 % CI]', 'Δp99 vs baseline [95 % CI]', 'mCPU per 1k req/s'];
  const rows = meshesIn(group.cells).map((mesh) => {
    const cells = group.cells.filter((c) => c.mesh === mesh);
    const comparison = comparisons.find((c) => c.mesh === mesh);
    const delta = (name: 'p50' | 'p99') => {
      if (mesh === REFERENCE_MESH) return '—';
      const m = comparison?.metrics.find((x) => x.metric === name);
      return m ? `${changeText(m, '\n')}\np ${pText(m)}` : 'n/a';
    };
    const cpu = cells.map((c) => cellUsage(c).cpuMillicoresPer1kRps).filter((v): v is number => v !== undefined);
    const errors = cells.reduce((sum, c) => sum + c.load.non2xx + c.load.socketErrors, 0);
    const saturated = cells.filter((c) => c.load.saturated).length;
    return [
      mesh,
      spreadText(cells.map((c) => c.load.latencyUs.p50), formatUs),
      spreadText(cells.map((c) => c.load.latencyUs.p99), formatUs),
      spreadText(cells.map((c) => c.load.latencyUs.p999), formatUs),
      spreadText(cells.map((c) => c.load.achievedRps), formatRps) + (saturated > 0 ? ` ⚠ saturated ${saturated}/${cells.length}` : ''),
      String(errors),
      delta('p50'),
      delta('p99'),
      cpu.length > 0 ? spreadText(cpu, (v) => v.toFixed(0)) : '—',
    ];
  });
  return [
    `<section id="group-${escapeHtml(group.key)}">`,
    `<h2>${escapeHtml(group.label)}</h2>`,
    chartFigure(model, `latency-${group.key}`),
    chartFigure(model, `overhead-${group.key}`),
    `<p class="caption">Figures: median over repeats (min–max in brackets). Δ: difference of medians, its 95 % bootstrap interval in square brackets, and the permutation p.</p>`,
    htmlTable({ header, rows, textColumns: [0] }),
    comparisons.length > 0 ? moreMetrics(comparisons) : '',
    `</section>`,
  ].join('\n');
}

function moreMetrics(comparisons: MeshComparison[]): string {
  const rows = comparisons.flatMap((c) =>
    c.metrics
      .filter((m) => m.metric !== 'p50' && m.metric !== 'p99')
      .map((m) => [c.mesh, METRICS[m.metric].label, changeText(m), pText(m), m.basis]),
  );
  if (rows.length === 0) return '';
  return `<details><summary>Other figures vs baseline (p90, p99.9, throughput, CPU)</summary>\n${htmlTable({ header: ['data path', 'figure', 'Δ vs baseline [95 % CI]', 'p', 'resampled'], rows, textColumns: [0, 1, 4] })}\n</details>`;
}

function throughputAndUsage(model: ReportModel): string {
  const has = (id: string) => model.charts.some((c) => c.id === id);
  return [
    `<section id="throughput-usage">`,
    `<h2>Throughput${has('cpu') ? ', CPU' : ''}${has('memory') ? ' and memory' : ''}</h2>`,
    chartFigure(model, 'throughput'),
    has('cpu') ? chartFigure(model, 'cpu') : '<p class="caption">No CPU figures in this run (neither the cpu probe nor /proc accounting).</p>',
    has('memory') ? chartFigure(model, 'memory') : '<p class="caption">No memory figures in this run (the eBPF memory probe did not run).</p>',
    `</section>`,
  ].join('\n');
}

/** A cell's latency, or "no data" when it holds no sample (never 0 µs). */
function cellUs(cell: CellResult, us: number): string {
  return cell.load.latencyUs.count > 0 ? formatUs(us) : 'no data';
}

function cellsSection(result: RunResult): string {
  const header = ['cell', 'p50', 'p90', 'p99', 'p99.9', 'max', 'requests', 'achieved req/s', 'non-2xx', 'socket errors', 'saturated', 'notes'];
  const rows = [...result.cells]
    .sort((a, b) => a.index - b.index)
    .map((c: CellResult) => [
      // A failed cell (something died mid-cell) says so; a cell without a sample has no latency.
      c.status === 'failed' ? `${c.id} ✖ failed: ${c.failure?.message ?? 'see notes'}` : c.id,
      cellUs(c, c.load.latencyUs.p50),
      cellUs(c, c.load.latencyUs.p90),
      cellUs(c, c.load.latencyUs.p99),
      cellUs(c, c.load.latencyUs.p999),
      cellUs(c, c.load.latencyUs.max),
      String(c.load.requests),
      formatRps(c.load.achievedRps),
      String(c.load.non2xx),
      String(c.load.socketErrors),
      c.load.saturated ? '⚠ yes' : 'no',
      c.notes.join('; '),
    ]);
  return [
    `<section id="cells">`,
    `<h2>All cells, in run order</h2>`,
    `<p class="caption">Meshes are interleaved within each repeat, and their order rotates between repeats, so slow drift of the host hits every data path alike.</p>`,
    htmlTable({ header, rows, textColumns: [0, 11] }),
    `</section>`,
  ].join('\n');
}

function kv(entries: Array<[string, string]>): string {
  return `<dl class="kv">${entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

function environmentSection(result: RunResult): string {
  const env = result.environment;
  const placement =
    env.placement.driverCpus === '' && env.placement.podCpus === ''
      ? 'not pinned: the load driver shares CPUs with what it measures'
      : `load driver on CPUs ${env.placement.driverCpus || '(any)'}, pods on CPUs ${env.placement.podCpus || '(any)'}`;
  const meshes = result.scenario.meshes.map((m): [string, string] => [m, meshModule(m).description]);
  return [
    `<section id="environment">`,
    `<h2>Environment</h2>`,
    kv([
      ['proxy', `${env.proxy.name} ${env.proxy.version}`],
      ['kernel', env.kernel],
      ['CPU', `${env.cpuModel}, ${env.cores} ${env.cores === 1 ? 'core' : 'cores'}${env.governor ? `, governor ${env.governor}` : ''}`],
      ['placement', placement],
      ['host', env.hostname],
      ['Node.js', env.node],
      ...Object.entries(env.tools).map(([tool, version]): [string, string] => [tool, version]),
      ['scenario', `${result.scenario.name} (platform ${result.scenario.platform})`],
    ]),
    `<h3>Data paths</h3>`,
    kv(meshes),
    `</section>`,
  ].join('\n');
}

function probesSection(model: ReportModel): string {
  const { ran, failed, cost } = model.probes;
  const parts = [`<section id="probes">`, `<h2>Probes</h2>`];
  if (ran.length === 0 && failed.length === 0) {
    parts.push('<p>No eBPF probe figures in this run; CPU figures, where shown, come from /proc.</p>');
  } else {
    parts.push(`<p>eBPF probes that ran: ${ran.length > 0 ? ran.map((p) => `<code>${escapeHtml(p)}</code>`).join(', ') : 'none'}.</p>`);
    if (failed.length > 0) {
      parts.push(`<p>Asked for but not run:</p><ul class="notes">${failed.map((f) => `<li><code>${escapeHtml(f.probe)}</code>: ${escapeHtml(f.why)}</li>`).join('')}</ul>`);
    }
  }
  if (cost) {
    parts.push(
      '<h3>Probe overhead</h3>',
      `<p>Over the measured windows of ${cost.cells} cells the probes’ BPF programs ran ${cost.bpfInvocations.toLocaleString('en')} times for ` +
        `${(cost.bpfSeconds * 1000).toFixed(0)} ms of CPU: ${cost.bpfUsPerRequest.toFixed(2)} µs per request, ${cost.bpfCpuPct.toFixed(2)} % of one CPU; ` +
        `the loader used ${(cost.loaderCpuSeconds * 1000).toFixed(0)} ms more (kernel bpf_stats run time and /proc).</p>`,
    );
  } else {
    parts.push('<p class="caption">The probes’ own cost was not recorded in this run.</p>');
  }
  parts.push('</section>');
  return parts.join('\n');
}

function notesSection(model: ReportModel): string {
  return [
    `<section id="notes">`,
    `<h2>Notes: what did not run, and how to read the figures</h2>`,
    `<ul class="notes">${model.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('\n')}</ul>`,
    `</section>`,
  ].join('\n');
}
