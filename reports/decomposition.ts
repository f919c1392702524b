// The report's "where the latency goes" section: per mesh, a waterfall of a request's mean
// latency along its path — each kernel hop (send path + transit, then the wake-up at the
// receiver) and each residence (a component's user space), cumulative, the baseline's
// beside it — then the Δ vs the baseline in words and a table. Reads the stored figures
// (result.json analysis.decomposition); computes nothing but the running sum of the bars.
// Pure: a RunResult in, charts (vega-lite specs) and HTML out.
import type { TopLevelSpec } from 'vega-lite';
import { decompositionTables, type MeshDecomposition } from '../harness/analysis/decomposition.ts';
import type { RunResult } from '../harness/results/types.ts';
import { PROTOCOLS, REFERENCE_MESH } from '../harness/scenario/types.ts';
import { chartSlot, escapeHtml, htmlTable } from './html.ts';
import type { ReportChart } from './model.ts';
import { CHART_CONFIG, meshOrder } from './specs.ts';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export const WATERFALL_CATEGORIES = ['kernel: send + transit', 'kernel: wake-up', 'user space', 'unattributed'] as const;
const CATEGORY_COLOURS = ['#2e86ab', '#9bc1d6', '#d1495b', '#bbbbbb'];

export interface WaterfallRow {
  mesh: string;
  /** Position along the path (0 = the client's send). */
  order: number;
  step: string;
  category: (typeof WATERFALL_CATEGORIES)[number];
  startUs: number;
  endUs: number;
  us: number;
}

/** The bars of one mesh's waterfall, from its stored decomposition. */
export function waterfallRows(m: MeshDecomposition): WaterfallRow[] {
  const rows: WaterfallRow[] = [];
  let at = 0;
  const push = (step: string, category: WaterfallRow['category'], us: number): void => {
    const end = at + us;
    rows.push({ mesh: m.mesh, order: rows.length, step, category, startUs: round(at), endUs: round(end), us: round(us) });
    at = end;
  };
  for (const part of m.parts) {
    if (part.kind === 'hop') {
      push(`${part.label}: send + transit`, 'kernel: send + transit', (part.send?.meanUs ?? 0) + (part.transit?.meanUs ?? 0));
      push(`${part.label}: wake-up`, 'kernel: wake-up', part.wake?.meanUs ?? 0);
    } else {
      push(part.role === 'client-app' ? part.label : `${part.label} (user space)`, 'user space', part.meanUs);
    }
  }
  push('unattributed (driver user space, error)', 'unattributed', m.totals.unattributedUs);
  return rows;
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** Horizontal waterfalls, one row of the facet per mesh (the baseline first), on one µs axis. */
export function waterfallSpec(title: string, subtitle: string, rows: readonly WaterfallRow[], meshes: readonly string[]): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle },
    config: CHART_CONFIG,
    data: { values: rows.map((r) => ({ ...r })) },
    facet: { row: { field: 'mesh', type: 'nominal', title: null, sort: [...meshes], header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold' } } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 440,
      height: { step: 14 },
      mark: { type: 'bar', height: { band: 0.8 } },
      encoding: {
        y: { field: 'step', type: 'ordinal', sort: { field: 'order' }, title: null, axis: { labelLimit: 320 } },
        x: { field: 'startUs', type: 'quantitative', title: 'µs from the intended send time (mean request)' },
        x2: { field: 'endUs' },
        color: {
          field: 'category',
          type: 'nominal',
          title: 'where',
          scale: { domain: [...WATERFALL_CATEGORIES], range: CATEGORY_COLOURS },
          legend: { labelLimit: 240 },
        },
        tooltip: [
          { field: 'mesh', type: 'nominal', title: 'data path' },
          { field: 'step', type: 'nominal', title: 'step' },
          { field: 'us', type: 'quantitative', title: 'µs', format: ',.1f' },
          { field: 'endUs', type: 'quantitative', title: 'cumulative µs', format: ',.1f' },
        ],
      },
    },
  };
}

function storedDecomposition(result: RunResult): MeshDecomposition[] {
  return result.analysis.decomposition ?? [];
}

/** The protocol × services the section draws: the first with a stored decomposition. */
function drawn(result: RunResult): MeshDecomposition[] {
  const stored = storedDecomposition(result);
  const plaintext = stored.filter((m) => !m.security);
  const all = plaintext.length > 0 ? plaintext : stored;
  const protocol = PROTOCOLS.find((p) => all.some((m) => m.protocol === p));
  if (!protocol) return [];
  const services = Math.min(...all.filter((m) => m.protocol === protocol).map((m) => m.services));
  const order = meshOrder();
  return all
    .filter((m) => m.protocol === protocol && m.services === services)
    .sort((a, b) => (a.mesh === REFERENCE_MESH ? -1 : b.mesh === REFERENCE_MESH ? 1 : order.indexOf(a.mesh) - order.indexOf(b.mesh)));
}

export function decompositionCharts(result: RunResult): ReportChart[] {
  const meshes = drawn(result);
  if (meshes.length === 0) return [];
  const first = meshes[0]!;
  const rows = meshes.flatMap(waterfallRows);
  return [{
    id: 'decomposition-waterfall',
    title: 'Where a request\'s latency goes',
    caption:
      'Each mesh\'s mean request along its path, cumulative from its intended send time to the driver\'s clock: the driver\'s send lateness (its own figure), then every kernel hop (the sender\'s send path and the transit to the next component, then the wake-up of the receiver) and every component\'s user space, from the dwell probe\'s socket-boundary figures; last, what no hook sees (the driver\'s user space, and any error). The baseline is the first row.',
    spec: waterfallSpec('Where a request\'s latency goes (mean, µs)', `${first.protocol}, ${first.services} service${first.services === 1 ? '' : 's'}; ${REFERENCE_MESH} first`, rows, meshes.map((m) => m.mesh)),
  }];
}

export function hasDecompositionSection(result: RunResult): boolean {
  return storedDecomposition(result).length > 0;
}

export function decompositionSection(result: RunResult, charts: readonly ReportChart[]): string {
  if (!hasDecompositionSection(result)) return '';
  const stored = storedDecomposition(result);
  const words = stored.filter((m) => m.delta).map((m) => `<li>${escapeHtml(m.delta!.words)}</li>`);
  const tables = decompositionTables(stored);
  return [
    `<section id="decomposition">`,
    `<h2>Where the latency goes</h2>`,
    `<p class="caption">From the dwell probe: each message's first TCP segment timed at the cgroup boundary of every component (matched by sequence number across NAT), and the read and send around it. ` +
      `A hop is the kernel's transit between two components: the sender's send path, the network stack, netfilter and softirq, then the receiver's wake-up and run-queue wait; a residence is a component's own user space. Means per request, averaged over the repeats.</p>`,
    ...(words.length > 0 ? [`<ul class="deltas">${words.join('')}</ul>`] : []),
    ...charts.filter((c) => c.id.startsWith('decomposition-')).map((c) => chartSlot(`chart-${c.id}`, escapeHtml(c.caption))),
    ...tables.map((t) => `<h3>${escapeHtml(t.heading)}</h3>\n${htmlTable({ header: t.header, rows: t.rows, textColumns: [0, 1] })}`),
    `</section>`,
  ].join('\n');
}
