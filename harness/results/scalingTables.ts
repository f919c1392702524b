// summary.md's and the terminal's view of the services-per-node sweep: the fit table (cost
// per added service with its 95 % interval, R², the line at 100 and 250 services) and the
// idle cost per mesh and service count. Pure: a RunResult in, tables out (summary.ts lays
// them out with the others).
import { median } from 'simple-statistics';
import {
  EXTRAPOLATION_CAVEAT, PROXY_ROLES, SCALING_METRIC_INFO, type FitValue, type ScalingFit, type ScalingMetricInfo,
} from '../analysis/scaling.ts';
import { MESH_NAMES, PROTOCOLS } from '../scenario/types.ts';
import type { CellResult, RunResult } from './types.ts';

export interface ScalingTable {
  heading: string;
  header: string[];
  align: Array<'left' | 'right'>;
  rows: string[][];
}

type Unit = ScalingMetricInfo['unit'];

/** µs above 1000 read as ms; the other units as they are. */
function displayUnit(value: number, unit: Unit): { unit: string; divisor: number } {
  if (unit === 'µs' && Math.abs(value) >= 1000) return { unit: 'ms', divisor: 1000 };
  return { unit, divisor: 1 };
}

/**
 * Decimals that show a value to ~3 significant digits, or, with an interval, its half-width
 * to ~2 (but never more than one decimal past the value's own 3 digits).
 */
function decimalsFor(value: number, halfWidth?: number): number {
  const abs = Math.abs(value);
  const own = abs === 0 ? 0 : abs < 10 ? 2 : abs < 100 ? 1 : 0;
  if (halfWidth !== undefined && Number.isFinite(halfWidth) && halfWidth > 0) {
    return Math.max(0, Math.min(3, own + 1, Math.ceil(-Math.log10(halfWidth)) + 1));
  }
  return own;
}

function fixed(value: number, decimals: number, sign = false): string {
  const text = value.toFixed(decimals);
  const zero = Number(text) === 0;
  if (zero) return (0).toFixed(decimals);
  return sign && value > 0 ? `+${text}` : text;
}

/** A figure in its unit: `14.0 MiB`, `3.20 mCPU`, `812 µs`, `1.36 ms`, `1.50/s`. */
export function formatScaled(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return 'n/a';
  const d = displayUnit(value, unit);
  const text = fixed(value / d.divisor, decimalsFor(value / d.divisor));
  return d.unit === '/s' ? `${text}/s` : `${text} ${d.unit}`;
}

/** A value and its interval in one unit and precision: `+14.02 [13.98, 14.06] MiB`. */
function withInterval(value: number, low: number, high: number, unit: Unit, sign: boolean, separator: string): string {
  const d = displayUnit(value, unit);
  const decimals = decimalsFor(value / d.divisor, Number.isFinite(low) ? (high - low) / 2 / d.divisor : undefined);
  const f = (v: number): string => fixed(v / d.divisor, decimals, sign);
  const unitText = d.unit === '/s' ? '/s' : ` ${d.unit}`;
  if (!Number.isFinite(low)) return `${f(value)}${unitText}`;
  return `${f(value)} [${f(low)}${separator}${f(high)}]${unitText}`;
}

/** `+14.02 [13.98, 14.06] MiB`: the slope with its 95 % interval (none from two points). */
export function slopeText(fit: ScalingFit): string {
  const f = fit.fit!;
  const text = withInterval(f.slope, f.slopeLow, f.slopeHigh, fit.unit, true, ', ');
  return Number.isFinite(f.slopeLow) ? text : `${text} (no interval: 2 points)`;
}

/** `1414 [1412, 1416] MiB *`: the line at a service count; * = extrapolated. */
export function atText(value: FitValue | undefined, unit: Unit): string {
  if (!value) return '—';
  return `${withInterval(value.estimate, value.low, value.high, unit, false, ', ')}${value.extrapolated ? ' *' : ''}`;
}

function r2Text(r2: number): string {
  return Number.isFinite(r2) ? r2.toFixed(3) : 'n/a';
}

/** The fits, one table per protocol: every mesh × figure that has a line. */
function fitTables(fits: readonly ScalingFit[]): ScalingTable[] {
  const tables: ScalingTable[] = [];
  for (const protocol of PROTOCOLS) {
    const mine = fits.filter((f) => f.protocol === protocol && f.fit);
    if (mine.length === 0) continue;
    const xs = [...new Set(mine.flatMap((f) => f.points.map((p) => p.services)))].sort((a, b) => a - b);
    tables.push({
      heading: `${protocol} · cost as the node fills — per added service (linear fit over ${xs.join(', ')} services)`,
      header: ['mesh', 'figure', 'per added service [95 % CI]', 'fixed part', 'R²', 'points', 'at 100 services', 'at 250 services'],
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
      rows: mine.map((f) => [
        f.mesh,
        SCALING_METRIC_INFO[f.metric].label,
        slopeText(f),
        formatScaled(f.fit!.intercept, f.unit),
        r2Text(f.fit!.r2),
        `${f.points.length}${f.excluded > 0 ? ` (${f.excluded} left out)` : ''}`,
        atText(f.at.find((v) => v.services === 100), f.unit),
        atText(f.at.find((v) => v.services === 250), f.unit),
      ]),
    });
  }
  return tables;
}

function med(values: Array<number | undefined>): number | undefined {
  const present = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return present.length === 0 ? undefined : median(present);
}

/** The idle window's figures per mesh × services (median over repeats). */
function idleTables(cells: readonly CellResult[]): ScalingTable[] {
  const tables: ScalingTable[] = [];
  for (const protocol of PROTOCOLS) {
    const idleCells = cells.filter((c) => c.protocol === protocol && c.idle);
    if (idleCells.length === 0) continue;
    const seconds = med(idleCells.map((c) => c.idle!.durationMs / 1000))!;
    const rows: string[][] = [];
    const servicesValues = [...new Set(idleCells.map((c) => c.services))].sort((a, b) => a - b);
    for (const mesh of MESH_NAMES) {
      for (const services of servicesValues) {
        const group = idleCells.filter((c) => c.mesh === mesh && c.services === services);
        if (group.length === 0) continue;
        const per = (pick: (c: CellResult, proxies: NonNullable<CellResult['idle']>['components'][string][], s: number) => number | undefined) =>
          med(group.map((c) => {
            const all = Object.values(c.idle!.components);
            return pick(c, all.filter((x) => PROXY_ROLES.has(x.role)), c.idle!.durationMs / 1000);
          }));
        const sum = (xs: Array<number | undefined>): number | undefined => (xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((a, b) => a + b!, 0));
        const proxies = per((_, p) => p.length)!;
        const memory = per((_, p) => sum(p.map((x) => x.memory?.peakBytes)));
        const cpu = per((_, p, s) => {
          const v = sum(p.map((x) => x.cpuSeconds));
          return v === undefined ? undefined : (v / s) * 1000;
        });
        const wakeups = per((_, p, s) => {
          const v = sum(p.map((x) => x.wakeups));
          return v === undefined ? undefined : v / s;
        });
        const appsMemory = per((c) => sum(Object.values(c.idle!.components).filter((x) => x.role === 'server-app').map((x) => x.memory?.peakBytes)));
        const show = (v: number | undefined, unit: Unit): string => (proxies === 0 ? '— (no proxy)' : v === undefined ? '—' : formatScaled(v, unit));
        rows.push([
          mesh,
          String(services),
          String(proxies),
          show(memory === undefined ? undefined : memory / 2 ** 20, 'MiB'),
          show(cpu, 'mCPU'),
          show(wakeups, '/s'),
          appsMemory === undefined ? '—' : formatScaled(appsMemory / 2 ** 20, 'MiB'),
        ]);
      }
    }
    tables.push({
      heading: `${protocol} · idle cost — no load, ${Number(seconds.toFixed(1))} s window before each cell’s load`,
      header: ['mesh', 'services', 'proxies', 'proxy memory (peak RSS)', 'proxy CPU', 'proxy wake-ups', 'server apps’ memory'],
      align: ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
      rows,
    });
  }
  return tables;
}

/** The run's stored fits (result.json analysis.scaling): views read them, never refit. */
export function storedFits(result: RunResult): ScalingFit[] {
  return result.analysis.scaling ?? [];
}

/** The sweep's tables for summary.md: the fits (when there are two or more service counts), then idle cost. */
export function scalingTables(result: RunResult): ScalingTable[] {
  return [...fitTables(storedFits(result)), ...idleTables(result.cells)];
}

/** Notes that go with the sweep's tables. */
export function scalingNotes(result: RunResult): string[] {
  const fits = storedFits(result).filter((f) => f.fit);
  if (fits.length === 0) return [];
  const notes = [
    'Cost as the node fills: an ordinary least-squares line per mesh and figure through every cell (each repeat a point); ' +
      '“per added service” is its slope with the 95 % interval b ± t(0.975, n − 2)·s/√Sxx, “fixed part” its value at 0 services. ' +
      'Proxy figures sum the data path’s own processes (sidecars or the node proxy); baseline and ebpf-l4 run none. ' +
      'Latency fits leave out saturated cells.',
  ];
  if (fits.some((f) => f.at.some((v) => v.extrapolated))) notes.push(`* extrapolated. ${EXTRAPOLATION_CAVEAT}`);
  return notes;
}
