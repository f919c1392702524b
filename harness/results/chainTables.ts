// summary.md's and report.html's view of a chain sweep (scenario `chain`): the figures per
// chain length (median over repeats) and the cost per hop as stored in result.json's
// analysis.chain (harness/analysis/chain.ts): the slope with its 95 % interval, the mesh's
// own cost per hop against the reference mesh, the fixed part, R². Pure: a RunResult in,
// tables out. Values stored as NaN read back as null (JSON) and show as n/a.
import { median } from 'simple-statistics';
import { CHAIN_METRICS, type ChainFit } from '../analysis/chain.ts';
import { SCALING_METRIC_INFO, scalingValue, type ScalingMetricInfo } from '../analysis/scaling.ts';
import { REFERENCE_MESH } from '../scenario/types.ts';
import { formatScaled, type ScalingTable } from './scalingTables.ts';
import type { CellResult, RunResult } from './types.ts';

type Unit = ScalingMetricInfo['unit'];

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** `+812 [640, 984] µs` (ms above 1000 µs), or the value alone without an interval. */
export function intervalText(value: number | null, low: number | null | undefined, high: number | null | undefined, unit: Unit, sign = true): string {
  if (!finite(value)) return 'n/a';
  const divisor = unit === 'µs' && Math.abs(value) >= 1000 ? 1000 : 1;
  const shown = unit === 'µs' && divisor === 1000 ? 'ms' : unit;
  const half = finite(low) && finite(high) ? (high - low) / 2 / divisor : undefined;
  const abs = Math.abs(value / divisor);
  const own = abs === 0 ? 0 : abs < 10 ? 2 : abs < 100 ? 1 : 0;
  const decimals = half !== undefined && half > 0 ? Math.max(0, Math.min(3, own + 1, Math.ceil(-Math.log10(half)) + 1)) : own;
  const f = (v: number): string => {
    const text = (v / divisor).toFixed(decimals);
    return Number(text) === 0 ? (0).toFixed(decimals) : sign && v > 0 ? `+${text}` : text;
  };
  const unitText = shown === '/s' ? '/s' : ` ${shown}`;
  return half === undefined ? `${f(value)}${unitText}` : `${f(value)} [${f(low!)}, ${f(high!)}]${unitText}`;
}

const chainOf = (cell: CellResult): number => cell.chain ?? 1;

function med(values: Array<number | undefined>): number | undefined {
  const present = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return present.length === 0 ? undefined : median(present);
}

/** The stored fits of the run (analysis.chain), with a line. */
export function storedChainFits(result: RunResult): ChainFit[] {
  return (result.analysis.chain ?? []).filter((f) => f.fit && finite(f.fit.slope));
}

/** Per protocol × services with a chain sweep: figures per mesh × chain length, then the cost per hop. */
export function chainTables(result: RunResult): ScalingTable[] {
  const tables: ScalingTable[] = [];
  const fits = storedChainFits(result);
  const groups = [...new Set(fits.map((f) => `${f.protocol}|${f.services}`))];
  for (const group of groups) {
    const [protocol, servicesText] = group.split('|') as [string, string];
    const services = Number(servicesText);
    const mine = fits.filter((f) => f.protocol === protocol && f.services === services);
    const cells = result.cells.filter((c) => c.protocol === protocol && c.services === services && c.status !== 'failed');
    const lengths = [...new Set(cells.map(chainOf))].sort((a, b) => a - b);
    const meshes = [...new Set(mine.map((f) => f.mesh))];
    const each = services > 1 ? ` (each of ${services} entry services heads a chain)` : '';
    tables.push({
      heading: `${protocol} · a request through a chain of services — per chain length, median over repeats${each}`,
      header: ['mesh', 'services crossed', ...CHAIN_METRICS.map((m) => SCALING_METRIC_INFO[m].label), 'cells'],
      align: ['left', 'right', ...CHAIN_METRICS.map(() => 'right' as const), 'right'],
      rows: meshes.flatMap((mesh) =>
        lengths.map((length) => {
          const at = cells.filter((c) => c.mesh === mesh && chainOf(c) === length);
          return [
            mesh,
            String(length),
            ...CHAIN_METRICS.map((metric) => {
              const value = med(at.map((c) => scalingValue(c, metric)));
              return value === undefined ? 'no data' : formatScaled(value, SCALING_METRIC_INFO[metric].unit);
            }),
            String(at.length),
          ];
        }),
      ),
    });
    tables.push({
      heading: `${protocol} · cost per hop — linear fit over ${lengths.join(', ')} services crossed`,
      header: ['mesh', 'figure', 'per hop [95 % CI]', `the mesh's own, vs ${REFERENCE_MESH} [95 % CI]`, 'fixed part', 'R²', 'points'],
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'right'],
      rows: mine.map((f) => [
        f.mesh,
        SCALING_METRIC_INFO[f.metric].label,
        intervalText(f.fit!.slope, f.fit!.slopeLow, f.fit!.slopeHigh, f.unit),
        f.vsReference ? intervalText(f.vsReference.perHop, f.vsReference.low, f.vsReference.high, f.unit) : f.mesh === REFERENCE_MESH ? '(reference)' : 'n/a',
        intervalText(f.fit!.intercept, undefined, undefined, f.unit, false),
        finite(f.fit!.r2) ? f.fit!.r2.toFixed(3) : 'n/a',
        `${f.points.length}${f.excluded > 0 ? ` (${f.excluded} left out)` : ''}`,
      ]),
    });
  }
  return tables;
}

/** Notes that go with the chain tables. */
export function chainNotes(result: RunResult): string[] {
  if (storedChainFits(result).length === 0) return [];
  return [
    'Cost per hop: a request enters service 1, whose server app calls the next service through the mesh before answering ' +
      '(the workload delay at the last one); an ordinary least-squares line per mesh and figure through every cell (x = services ' +
      'crossed, each repeat a point); “per hop” is its slope with the 95 % interval b ± t(0.975, n − 2)·s/√Sxx, “the mesh’s own” ' +
      `that slope minus ${REFERENCE_MESH}’s (a hop without a mesh still costs an app and a kernel transit), ±t(0.975, n₁ + n₂ − 4)·√(se₁² + se₂²). ` +
      'The comparisons and overhead tables above are of the one-hop cells.',
  ];
}
