// The report's and dashboard's charts as vega-lite specs. Pure: rows in, a spec out, data
// inline, so a spec renders the same in the browser (report.html) and in Node (SVG for
// summary.md) and can be snapshot-tested as JSON.
import type { TopLevelSpec } from 'vega-lite';
import { meshModules } from '../harness/mesh/index.ts';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** One colour per data path, the same in every chart: each mesh module's own (harness/mesh/). */
export function meshScale(): { domain: string[]; range: string[] } {
  const meshes = meshModules();
  return { domain: meshes.map((m) => m.name), range: meshes.map((m) => m.colour) };
}

/** The meshes in the order every chart lists them. */
export function meshOrder(): string[] {
  return meshModules().map((m) => m.name);
}

/** Component roles, in the order a request meets them. */
export const ROLE_ORDER = ['client-sidecar', 'node-proxy', 'server-sidecar', 'server-app'];
const ROLE_COLORS: Record<string, string> = {
  'client-sidecar': '#e07a5f',
  'node-proxy': '#3d85c6',
  'server-sidecar': '#f2a65a',
  'server-app': '#81b29a',
};

function roleScale(roles: readonly string[]) {
  const ordered = [...ROLE_ORDER.filter((r) => roles.includes(r)), ...roles.filter((r) => !ROLE_ORDER.includes(r)).sort()];
  return { domain: ordered, range: ordered.map((r, i) => ROLE_COLORS[r] ?? ['#9c89b8', '#b8bedd', '#f0a6ca', '#efc3e6'][i % 4]!) };
}

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const, subtitleColor: '#555' },
};
/** The look every chart shares (reports/scaling.ts draws with it too). */
export const CHART_CONFIG = CONFIG;

// ---------------------------------------------------------------------------------------
// Latency percentiles

export interface LatencyCurveRow {
  mesh: string;
  percentile: number;
  /** 1 / (1 − percentile/100). */
  inverseTail: number;
  latencyUs: number;
}

/** Percentile ticks of the log x axis (as 1 / (1 − p)): 0 %, 50 %, 90 %, 99 %, … up to the data. */
function tailTicks(maxInverseTail: number): number[] {
  const ticks = [1, 2, 10];
  for (let t = 100; t <= maxInverseTail * 1.0001; t *= 10) ticks.push(t);
  return ticks;
}

/**
 * Latency by percentile, one line per mesh, HdrHistogram style: the x axis is 1/(1 − p)
 * on a log scale, so 90 %, 99 %, 99.9 % sit a decade apart and the tail is visible.
 */
export function latencyCurveSpec(title: string, subtitle: string, rows: readonly LatencyCurveRow[]): TopLevelSpec {
  const maxInverseTail = Math.max(2, ...rows.map((r) => r.inverseTail));
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle },
    width: 560,
    height: 300,
    config: CONFIG,
    data: { values: rows.map((r) => ({ ...r })) },
    mark: { type: 'line', point: { size: 18 }, interpolate: 'step-after', strokeWidth: 1.8 },
    encoding: {
      x: {
        field: 'inverseTail',
        type: 'quantitative',
        title: 'percentile',
        scale: { type: 'log', domain: [1, maxInverseTail] },
        axis: { values: tailTicks(maxInverseTail), labelExpr: "format(100 - 100 / datum.value, '.6~f') + '%'", grid: true },
      },
      y: { field: 'latencyUs', type: 'quantitative', title: 'latency (µs, log scale)', scale: { type: 'log' } },
      color: { field: 'mesh', type: 'nominal', title: 'data path', scale: meshScale() },
      tooltip: [
        { field: 'mesh', type: 'nominal', title: 'data path' },
        { field: 'percentile', type: 'quantitative', title: 'percentile', format: '.4~f' },
        { field: 'latencyUs', type: 'quantitative', title: 'latency (µs)', format: ',.0f' },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------
// Overhead vs baseline

export interface OverheadRow {
  mesh: string;
  /** e.g. `p50`, `p99`. */
  metric: string;
  deltaUs: number;
  lowUs: number;
  highUs: number;
  deltaPct: number | null;
  lowPct: number | null;
  highPct: number | null;
  pValue: number | null;
}

/** Each mesh's difference from the baseline, with its 95 % interval as a bar, per percentile. */
export function overheadSpec(title: string, subtitle: string, rows: readonly OverheadRow[]): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle },
    config: CONFIG,
    data: { values: rows.map((r) => ({ ...r })) },
    facet: { column: { field: 'metric', type: 'nominal', title: null, header: { labelFontSize: 12, labelFontWeight: 'bold' } } },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 260,
      height: { step: 34 },
      layer: [
        { mark: { type: 'rule', color: '#999', strokeDash: [3, 3] }, encoding: { x: { datum: 0, type: 'quantitative' } } },
        {
          mark: { type: 'rule', strokeWidth: 2.5 },
          encoding: {
            y: { field: 'mesh', type: 'nominal', title: null, sort: meshOrder() },
            x: { field: 'lowUs', type: 'quantitative', title: 'Δ vs baseline (µs), 95 % CI' },
            x2: { field: 'highUs' },
            color: { field: 'mesh', type: 'nominal', scale: meshScale(), legend: null },
          },
        },
        {
          mark: { type: 'point', filled: true, size: 70 },
          encoding: {
            y: { field: 'mesh', type: 'nominal', sort: meshOrder() },
            x: { field: 'deltaUs', type: 'quantitative' },
            color: { field: 'mesh', type: 'nominal', scale: meshScale(), legend: null },
            tooltip: [
              { field: 'mesh', type: 'nominal', title: 'data path' },
              { field: 'metric', type: 'nominal' },
              { field: 'deltaUs', type: 'quantitative', title: 'Δ (µs)', format: '+,.1f' },
              { field: 'lowUs', type: 'quantitative', title: 'CI low (µs)', format: '+,.1f' },
              { field: 'highUs', type: 'quantitative', title: 'CI high (µs)', format: '+,.1f' },
              { field: 'deltaPct', type: 'quantitative', title: 'Δ (%)', format: '+.1f' },
              { field: 'pValue', type: 'quantitative', title: 'permutation p', format: '.3f' },
            ],
          },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------
// Throughput

export interface ThroughputRow {
  /** e.g. `http1 · 4 services`. */
  group: string;
  mesh: string;
  achievedRps: number;
  minRps: number;
  maxRps: number;
  askedRps: number | null;
  saturated: boolean;
}

/** Achieved rate per mesh (median over repeats, min–max as a bar), the asked rate as a tick. */
export function throughputSpec(title: string, subtitle: string, rows: readonly ThroughputRow[]): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle },
    config: CONFIG,
    data: { values: rows.map((r) => ({ ...r })) },
    facet: { column: { field: 'group', type: 'nominal', title: null, header: { labelFontSize: 12, labelFontWeight: 'bold' } } },
    spec: {
      width: 220,
      height: 220,
      layer: [
        {
          mark: { type: 'bar', opacity: 0.85 },
          encoding: {
            x: { field: 'mesh', type: 'nominal', title: null, sort: meshOrder(), axis: { labelAngle: 0 } },
            y: { field: 'achievedRps', type: 'quantitative', title: 'achieved req/s (median)' },
            color: { field: 'mesh', type: 'nominal', title: 'data path', scale: meshScale() },
            tooltip: [
              { field: 'mesh', type: 'nominal', title: 'data path' },
              { field: 'achievedRps', type: 'quantitative', title: 'achieved req/s', format: ',.1f' },
              { field: 'minRps', type: 'quantitative', title: 'min', format: ',.1f' },
              { field: 'maxRps', type: 'quantitative', title: 'max', format: ',.1f' },
              { field: 'askedRps', type: 'quantitative', title: 'asked req/s', format: ',.0f' },
              { field: 'saturated', type: 'nominal' },
            ],
          },
        },
        {
          mark: { type: 'rule', color: '#222', strokeWidth: 1.5 },
          encoding: {
            x: { field: 'mesh', type: 'nominal', sort: meshOrder() },
            y: { field: 'minRps', type: 'quantitative' },
            y2: { field: 'maxRps' },
          },
        },
        {
          mark: { type: 'tick', color: '#000', thickness: 2, size: 30, strokeDash: [4, 2] },
          encoding: {
            x: { field: 'mesh', type: 'nominal', sort: meshOrder() },
            y: { field: 'askedRps', type: 'quantitative' },
          },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------
// Per-component usage

export interface UsageRow {
  group: string;
  mesh: string;
  role: string;
  /** The stacked figure (e.g. mCPU per 1000 req/s, or MB). */
  value: number;
  /** A second figure for the tooltip (e.g. mCPU in total), or null. */
  detail: number | null;
  /** Components of this role summed into the bar (e.g. 4 server sidecars). */
  components: number;
}

/** Stacked bars: each mesh's figure split by component role, one panel per cell group. */
export function usageSpec(
  title: string,
  subtitle: string,
  axisTitle: string,
  detailTitle: string,
  rows: readonly UsageRow[],
): TopLevelSpec {
  const roles = [...new Set(rows.map((r) => r.role))];
  const scale = roleScale(roles);
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle },
    config: CONFIG,
    data: { values: rows.map((r) => ({ ...r, roleOrder: scale.domain.indexOf(r.role) })) },
    facet: { column: { field: 'group', type: 'nominal', title: null, header: { labelFontSize: 12, labelFontWeight: 'bold' } } },
    spec: {
      width: 220,
      height: 220,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'mesh', type: 'nominal', title: null, sort: meshOrder(), axis: { labelAngle: 0 } },
        y: { field: 'value', type: 'quantitative', title: axisTitle, stack: 'zero' },
        color: { field: 'role', type: 'nominal', title: 'component', scale },
        order: { field: 'roleOrder', type: 'quantitative' },
        tooltip: [
          { field: 'mesh', type: 'nominal', title: 'data path' },
          { field: 'role', type: 'nominal', title: 'component' },
          { field: 'components', type: 'quantitative', title: 'processes' },
          { field: 'value', type: 'quantitative', title: axisTitle, format: ',.1f' },
          { field: 'detail', type: 'quantitative', title: detailTitle, format: ',.1f' },
        ],
      },
    },
  };
}

// ---------------------------------------------------------------------------------------
// Trends across runs (dashboard)

export interface TrendRow {
  runId: string;
  /** ISO time the run started. */
  startedAt: string;
  mesh: string;
  value: number;
  low: number | null;
  high: number | null;
  /** This run's figure regressed against the previous run's (the compare gate's rule). */
  regression: boolean;
  /** Relative link to the run's report.html. */
  href: string;
}

/** One metric of one cell group over the nights: a line per mesh, regressions marked. */
export function trendSpec(title: string, subtitle: string, axisTitle: string, rows: readonly TrendRow[]): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle },
    width: 520,
    height: 220,
    config: CONFIG,
    data: { values: rows.map((r) => ({ ...r, regressionLabel: r.regression ? 'regression' : '' })) },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 1.8 },
        encoding: {
          x: { field: 'startedAt', type: 'temporal', title: 'run', axis: { format: '%b %d', labelAngle: 0 } },
          y: { field: 'value', type: 'quantitative', title: axisTitle, scale: { zero: false } },
          color: { field: 'mesh', type: 'nominal', title: 'data path', scale: meshScale() },
        },
      },
      {
        mark: { type: 'point', filled: true, size: 45, cursor: 'pointer' },
        encoding: {
          x: { field: 'startedAt', type: 'temporal' },
          y: { field: 'value', type: 'quantitative' },
          color: { field: 'mesh', type: 'nominal', scale: meshScale() },
          href: { field: 'href', type: 'nominal' },
          tooltip: [
            { field: 'runId', type: 'nominal', title: 'run' },
            { field: 'startedAt', type: 'temporal', title: 'started', format: '%Y-%m-%d %H:%M' },
            { field: 'mesh', type: 'nominal', title: 'data path' },
            { field: 'value', type: 'quantitative', title: axisTitle, format: ',.1f' },
            { field: 'regressionLabel', type: 'nominal', title: 'gate' },
          ],
        },
      },
      {
        transform: [{ filter: 'datum.regression' }],
        mark: { type: 'point', shape: 'triangle-up', size: 220, color: '#c1121f', filled: false, strokeWidth: 2.5 },
        encoding: {
          x: { field: 'startedAt', type: 'temporal' },
          y: { field: 'value', type: 'quantitative' },
          href: { field: 'href', type: 'nominal' },
          tooltip: [
            { field: 'runId', type: 'nominal', title: 'run' },
            { field: 'mesh', type: 'nominal', title: 'data path' },
            { field: 'regressionLabel', type: 'nominal', title: 'gate' },
          ],
        },
      },
    ],
  };
}
