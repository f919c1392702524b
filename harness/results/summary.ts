// The run summary, as markdown (summary.md) and as an aligned plain-text table (terminal).
// Pure: a RunResult in, text out; both views are rendered from one model so they never
// disagree.
//
// Conventions, the same in both views:
// - latencies carry their unit: below 1 ms in µs ("812 µs", "8.5 µs"), then ms with three
//   significant digits ("1.23 ms", "12.3 ms", "123 ms"), from 1 s on in s ("1.23 s");
// - a figure is the median over repeats; with more than one repeat the min–max across
//   repeats follows in brackets, in the median's unit ("1.23 ms (1.10–1.41)");
// - rates in req/s, rounded to whole requests from 100 req/s on;
// - differences carry a sign and the unit, with the percentage: "+123 µs (+15.2 %)",
//   whole percents from 100 % on.
import { median } from 'simple-statistics';
import { computeOverhead } from '../analysis/overhead.ts';
import { planCells, securityModesFor } from '../scenario/plan.ts';
import { MESH_NAMES, PROTOCOLS, REFERENCE_MESH, type MeshName, type Protocol, type Security } from '../scenario/types.ts';
import { securityTables } from './securityTables.ts';
import { componentTables, probeCostNote } from './components.ts';
import { formatRps, formatUs, latencyScale, rpsScale, scaled, type Scale } from './format.ts';
import { scalingNotes, scalingTables } from './scalingTables.ts';
import { chainNotes, chainTables } from './chainTables.ts';
import { decompositionTables, decompositionWords } from '../analysis/decomposition.ts';
import type { CellResult, MeshOverhead, RunResult } from './types.ts';

type Align = 'left' | 'right';

/** What a figure reads when nothing was measured: never a 0 that looks like a measurement. */
export const NO_DATA = 'no data';
/** A mesh row with failed cells (a proxy, server, driver or loader died mid-cell). */
export const FAILED_MARK = '✖ failed';

interface SummaryTable {
  heading: string;
  header: string[];
  align: Align[];
  rows: string[][];
}

interface SummaryModel {
  title: string;
  runLine: string;
  environmentLine: string;
  loadLine: string;
  legend: string;
  tables: SummaryTable[];
  notes: string[];
}

export function renderSummaryMarkdown(result: RunResult): string {
  const model = buildModel(result);
  // Every text of the model may come from a result.json someone else wrote (a scenario
  // name, notes, a proxy version): escaped, so summary.md shows it and GitHub renders no
  // HTML or markdown of it. Only the markup written here is markup.
  const md = escapeMarkdown;
  const lines = [
    `# ${md(model.title)}`,
    '',
    md(model.runLine),
    '',
    `**Environment:** ${md(model.environmentLine)}`,
    '',
    `**Load:** ${md(model.loadLine)}`,
    '',
    md(model.legend),
  ];
  for (const table of model.tables) {
    lines.push('', `## ${escapeMarkdownCell(table.heading)}`, '');
    lines.push(markdownRow(table.header.map(escapeMarkdownCell)));
    lines.push(markdownRow(table.align.map((a) => (a === 'right' ? '---:' : ':---'))));
    for (const row of table.rows) lines.push(markdownRow(row.map(escapeMarkdownCell)));
  }
  lines.push('', '## Notes', '', ...model.notes.map((note) => `- ${md(note)}`));
  return `${lines.join('\n')}\n`;
}

/**
 * Text as inline markdown that renders as exactly this text: HTML's `& < >` as entities,
 * markdown's inline punctuation backslash-escaped, line breaks (which could open a block:
 * a heading, a list, raw HTML) as spaces.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(/[\\`*_[\]~!#]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/**
 * A table cell: the figures' own brackets and asterisks (CIs, "extrapolated *") stay as
 * they are; what could still become markup from a result's text is neutralised: HTML,
 * code spans, links (`](`), line breaks.
 */
export function escapeMarkdownCell(text: string): string {
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(/[\\`]/g, (c) => `\\${c}`)
    .replace(/\]\(/g, ']\\(')
    .replace(/!\[/g, '!\\[')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

export function renderTerminalTable(result: RunResult): string {
  const model = buildModel(result);
  const lines = [
    model.title,
    model.runLine,
    `Environment: ${model.environmentLine}`,
    `Load: ${model.loadLine}`,
    model.legend,
  ];
  for (const table of model.tables) {
    lines.push('', table.heading, ...alignedTable(table));
  }
  lines.push('', 'Notes:', ...model.notes.map((note) => `- ${note}`));
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------
// The model

function buildModel(result: RunResult): SummaryModel {
  const { scenario, environment, cells } = result;
  const planned = planCells(scenario);
  const repeats = scenario.repeats;
  const overhead = overheadLookup(result);

  const drivers = unique(cells.map((cell) => cell.load.driver));
  const driverText = drivers.length > 0 ? drivers.join(', ') : scenario.load.driver;
  const placement =
    environment.placement.driverCpus === '' && environment.placement.podCpus === ''
      ? 'not pinned'
      : `driver on CPUs ${environment.placement.driverCpus || '(any)'}, pods on CPUs ${environment.placement.podCpus || '(any)'}`;
  const environmentLine = [
    `kernel ${environment.kernel}`,
    environment.cpuModel,
    `${environment.cores} ${environment.cores === 1 ? 'core' : 'cores'}${environment.governor ? ` (governor ${environment.governor})` : ''}`,
    `proxy ${environment.proxy.name} ${environment.proxy.version}`,
    `driver ${driverText}`,
    `placement: ${placement}`,
  ].join(' · ');

  const load = scenario.load;
  const modelText = load.model === 'open' ? `open model at ${formatRps(load.rate ?? 0)} req/s` : 'closed model';
  const loadLine =
    `${modelText}, ${load.connections} ${load.connections === 1 ? 'connection' : 'connections'}, ` +
    `${formatMs(load.durationMs)} measured after ${formatMs(load.warmupMs)} warm-up; ` +
    `${repeats} ${repeats === 1 ? 'repeat' : 'repeats'}; responses of ${scenario.workload.responseBytes} B, ` +
    `server delay ${formatMs(scenario.workload.delayUs / 1000)}.`;

  const legend =
    repeats > 1
      ? `Each figure is the median over ${repeats} repeats; in brackets the min–max across repeats, in the median's unit unless another is shown.`
      : 'One repeat: each figure is a single measurement.';

  const tables: SummaryTable[] = [];
  const protocols = ordered(scenario.protocols, cells.map((cell) => cell.protocol), PROTOCOLS);
  const servicesValues = unique([...scenario.services, ...cells.map((cell) => cell.services)]);
  const meshes = ordered(scenario.meshes, cells.map((cell) => cell.mesh), MESH_NAMES);
  for (const protocol of protocols) {
    for (const services of servicesValues) {
      // The one-hop cells; a chain's longer cells have tables of their own (chainTables).
      const groupCells = cells.filter((cell) => cell.protocol === protocol && cell.services === services && (cell.chain ?? 1) === 1);
      const hasPlanned = planned.some((cell) => cell.protocol === protocol && cell.services === services);
      if (groupCells.length === 0 && !hasPlanned) continue;
      tables.push(buildTable(result, protocol, services, groupCells, meshes, overhead));
    }
  }
  tables.push(...securityTables(result));
  tables.push(...componentTables(result, meshes, protocols, servicesValues));
  tables.push(...scalingTables(result));
  tables.push(...chainTables(result));
  tables.push(...decompositionTables(result.analysis.decomposition ?? []));

  return {
    title: `meshbench — ${scenario.name}`,
    runLine: `Run ${result.runId} (meshbench ${result.meshbench}), ${result.startedAt}${result.finishedAt ? ` to ${result.finishedAt}` : ''}, ${result.status}: ${cells.length} of ${planned.length} cells measured.`,
    environmentLine,
    loadLine,
    legend,
    tables,
    notes: buildNotes(result, planned.map((cell) => cell.id)),
  };
}

function buildTable(
  result: RunResult,
  protocol: Protocol,
  services: number,
  groupCells: CellResult[],
  meshes: MeshName[],
  overhead: (mesh: MeshName, protocol: Protocol, services: number, security?: Security) => MeshOverhead | undefined,
): SummaryTable {
  const askedRates = groupCells.flatMap((cell) => (cell.load.requestedRps === undefined ? [] : [cell.load.requestedRps]));
  const askedRps = askedRates.length > 0 ? median(askedRates) : result.scenario.load.rate;
  const rateHeader =
    result.scenario.load.model === 'closed' || askedRps === undefined
      ? 'achieved rps (closed model)'
      : `achieved rps (asked ${formatRps(askedRps)})`;

  const header = ['mesh', 'p50', 'p90', 'p99', 'p99.9', 'max', rateHeader, 'errors', 'Δp50 vs baseline', 'Δp99 vs baseline'];
  // With the security axis a row per mesh × mode ("sidecar · mtls"); the reference mesh runs plaintext only.
  const modes: Security[] = result.scenario.security ?? ['plaintext'];
  const byMode = modes.length > 1 || modes[0] !== 'plaintext';
  const rows = meshes.flatMap((mesh) => securityModesFor(mesh, modes).map((security) => {
    const label = byMode && mesh !== REFERENCE_MESH ? `${mesh} · ${security}` : mesh;
    const allMeshCells = groupCells.filter((cell) => cell.mesh === mesh && (cell.security ?? 'plaintext') === security).sort((a, b) => a.repeat - b.repeat);
    if (allMeshCells.length === 0) return [label, 'no result', '—', '—', '—', '—', '—', '—', '—', '—'];
    const notRun = allMeshCells.find((cell) => cell.status === 'not-run');
    if (notRun) return [label, notRun.notRunReason ?? 'not run', '—', '—', '—', '—', '—', '—', '—', '—'];
    // Failed cells (something died mid-cell) are shown as such, never as figures of the path.
    const meshCells = allMeshCells.filter((cell) => cell.status !== 'failed');
    const failedCount = allMeshCells.length - meshCells.length;
    if (meshCells.length === 0) {
      return [`${label} ${FAILED_MARK}`, 'failed (see notes)', '—', '—', '—', '—', '—', '—', '—', '—'];
    }
    const meshLabel = failedCount > 0 ? `${label} ${FAILED_MARK} (${failedCount} of ${allMeshCells.length})` : label;
    // Cells without one latency sample (no request in the window) say "no data", never 0 µs.
    const sampled = meshCells.filter((cell) => cell.load.latencyUs.count > 0);
    const unsampled = meshCells.length - sampled.length;
    const latency = (pick: (cell: CellResult) => number) =>
      sampled.length === 0
        ? NO_DATA
        : spreadText(sampled.map(pick), latencyScale) + (unsampled > 0 ? ` (${unsampled} of ${meshCells.length} no data)` : '');
    const saturatedCount = meshCells.filter((cell) => cell.load.saturated).length;
    const saturation =
      saturatedCount === 0
        ? ''
        : saturatedCount === meshCells.length
          ? ' ⚠ saturated'
          : ` ⚠ saturated (${saturatedCount} of ${meshCells.length})`;
    const deltas = mesh === REFERENCE_MESH ? undefined : overhead(mesh, protocol, services, security);
    return [
      meshLabel,
      latency((cell) => cell.load.latencyUs.p50),
      latency((cell) => cell.load.latencyUs.p90),
      latency((cell) => cell.load.latencyUs.p99),
      latency((cell) => cell.load.latencyUs.p999),
      latency((cell) => cell.load.latencyUs.max),
      spreadText(meshCells.map((cell) => cell.load.achievedRps), rpsScale) + saturation,
      errorsText(meshCells),
      deltas ? deltaText(deltas.p50DeltaUs, deltas.p50DeltaPct) : '—',
      deltas ? deltaText(deltas.p99DeltaUs, deltas.p99DeltaPct) : '—',
    ];
  }));

  return {
    heading: `${protocol} · ${services} ${services === 1 ? 'service' : 'services'}`,
    header,
    align: header.map((_, column) => (column === 0 ? 'left' : 'right')),
    rows,
  };
}

function buildNotes(result: RunResult, plannedIds: string[]): string[] {
  const notes: string[] = [...result.notes];
  const probeCost = probeCostNote(result);
  if (probeCost) notes.push(probeCost);
  notes.push(...scalingNotes(result));
  notes.push(...chainNotes(result));
  notes.push(...decompositionWords(result.analysis.decomposition ?? []));
  const measured = new Set(result.cells.map((cell) => cell.id));
  const missing = plannedIds.filter((id) => !measured.has(id));
  if (missing.length > 0) {
    notes.push(`Not measured (${missing.length} of ${plannedIds.length} planned cells): ${missing.join(', ')}.`);
  }
  if (result.cells.some((cell) => cell.load.saturated)) {
    notes.push(
      '⚠ saturated: the achieved rate fell below 95 % of the asked one (in k of n repeats where shown); such a cell measures a queue, ' +
        'not the data path, and its latencies (and Δ) are not comparable with the other rows.',
    );
  }
  if (result.scenario.repeats === 1) {
    notes.push('1 repeat: no spread across repeats to judge the figures by; publish figures from 3 or more repeats.');
  } else if (result.scenario.repeats < 3) {
    notes.push(`${result.scenario.repeats} repeats: the spread is indicative only; publish figures from 3 or more repeats.`);
  }
  notes.push(
    'Δ vs baseline: per repeat, the mesh’s figure minus the same repeat’s baseline, then the median over repeats; ' +
      '% relative to that repeat’s baseline.',
  );
  for (const cell of [...result.cells].sort((a, b) => a.index - b.index)) {
    if (cell.status === 'failed' && cell.failure) {
      const exit = cell.failure.exit ? ` (${cell.failure.exit.signal ?? `exit code ${cell.failure.exit.code}`})` : '';
      const tail = cell.failure.stderrTail ? `; its stderr ended: ${cell.failure.stderrTail.split('\n').slice(-3).join(' / ')}` : '';
      notes.push(`${cell.id}: ${FAILED_MARK}: ${cell.failure.component ?? 'the cell'}${exit}${tail}`);
    }
    if (cell.load.latencyUs.count === 0 && cell.status !== 'not-run') {
      notes.push(`${cell.id}: no latency sample in the measured window (no request completed): its latencies read "${NO_DATA}"`);
    }
    for (const note of cell.notes) notes.push(`${cell.id}: ${note}`);
  }
  return notes;
}

/** Entries of result.analysis.overhead; where the analysis lacks one, computed from the cells. */
function overheadLookup(result: RunResult) {
  const key = (mesh: MeshName, protocol: Protocol, services: number, security: Security = 'plaintext') => `${mesh}|${protocol}|${security}|${services}`;
  const byKey = new Map<string, MeshOverhead>();
  const measured = result.cells.filter((cell) => cell.status !== 'failed' && cell.status !== 'not-run');
  for (const entry of computeOverhead(measured)) byKey.set(key(entry.mesh, entry.protocol, entry.services, entry.security), entry);
  for (const entry of result.analysis.overhead) byKey.set(key(entry.mesh, entry.protocol, entry.services, entry.security), entry);
  return (mesh: MeshName, protocol: Protocol, services: number, security?: Security) => byKey.get(key(mesh, protocol, services, security));
}

// ---------------------------------------------------------------------------------------
// Numbers for humans

// Latencies and rates in one spelling for every view (harness/results/format.ts).
export { formatRps, formatUs };

/** A duration in ms as the scenario would say it: `10 s`, `1.5 s`, `500 ms`, `0 s`. */
function formatMs(ms: number): string {
  if (ms === 0) return '0 s';
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))} s`;
  return `${Number(ms.toFixed(3))} ms`;
}

/**
 * Median with its unit, then `(min–max)` when there are several values: in the median's
 * unit and precision, or each bound with its own unit when they span units.
 */
function spreadText(values: number[], scaleFor: (value: number) => Scale): string {
  const middle = median(values);
  const scale = scaleFor(middle);
  const main = `${scaled(middle, scale)} ${scale.unit}`;
  if (values.length < 2) return main;
  const low = Math.min(...values);
  const high = Math.max(...values);
  if (scaleFor(low).unit === scale.unit && scaleFor(high).unit === scale.unit) {
    return `${main} (${scaled(low, scale)}–${scaled(high, scale)})`;
  }
  const own = (value: number) => `${scaled(value, scaleFor(value))} ${scaleFor(value).unit}`;
  return `${main} (${own(low)}–${own(high)})`;
}

function deltaText(deltaUs: number, deltaPct: number): string {
  if (!Number.isFinite(deltaUs)) return 'n/a';
  const scale = latencyScale(deltaUs);
  const magnitude = scaled(Math.abs(deltaUs), scale);
  const usText = `${signOf(deltaUs, magnitude)}${magnitude} ${scale.unit}`;
  if (!Number.isFinite(deltaPct)) return `${usText} (n/a %)`;
  const pct = Math.abs(deltaPct).toFixed(Math.abs(deltaPct) < 99.95 ? 1 : 0);
  return `${usText} (${signOf(deltaPct, pct)}${pct} %)`;
}

/** '+' or '-' unless the shown magnitude rounds to zero. */
function signOf(value: number, shown: string): string {
  if (Number(shown) === 0) return '';
  return value > 0 ? '+' : '-';
}

/** Errors (non-2xx + socket errors) summed over repeats, with their share of all responses. */
function errorsText(cells: CellResult[]): string {
  const errors = cells.reduce((sum, cell) => sum + cell.load.non2xx + cell.load.socketErrors, 0);
  if (errors === 0) return '0';
  const attempts = cells.reduce((sum, cell) => sum + cell.load.requests + cell.load.non2xx + cell.load.socketErrors, 0);
  const share = (errors / attempts) * 100;
  return `${errors} (${share < 0.01 ? '<0.01' : share < 10 ? share.toFixed(2) : share.toFixed(1)} %)`;
}

// ---------------------------------------------------------------------------------------
// Layout

function markdownRow(cells: string[]): string {
  return `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
}

/** Columns padded to their widest cell; text left, figures right; a dashed rule under the header. */
function alignedTable(table: SummaryTable): string[] {
  const all = [table.header, ...table.rows];
  const widths = table.header.map((_, column) => Math.max(...all.map((row) => displayWidth(row[column] ?? ''))));
  const line = (row: string[]) =>
    row
      .map((cell, column) => {
        const padding = ' '.repeat(widths[column]! - displayWidth(cell));
        return table.align[column] === 'right' ? padding + cell : cell + padding;
      })
      .join('  ')
      .trimEnd();
  return [line(table.header), widths.map((width) => '-'.repeat(width)).join('  '), ...table.rows.map(line)];
}

/** Code points, not UTF-16 units: µ, –, Δ and ⚠ each take one column. */
function displayWidth(text: string): number {
  return [...text].length;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

/** The scenario's order first, then anything else the cells hold, in canonical order. */
function ordered<T extends string>(declared: readonly T[], seen: T[], canonical: readonly T[]): T[] {
  const extra = canonical.filter((value) => !declared.includes(value) && seen.includes(value));
  return [...declared, ...extra];
}
