// Cost as the node fills: per mesh, how memory, CPU and latency grow with the services on
// a node. Pure and deterministic: cells in, fits out.
//
// Every cell is a point (x = its services, y = its figure; each repeat its own point), and
// an ordinary least-squares line through a mesh's points gives the cost per added service
// (the slope) and the fixed cost (the intercept). The slope's 95 % interval is the OLS one,
// b ± t(0.975, n − 2) · s / √Sxx: exact for independent, equally noisy errors around a
// straight line, and it needs no repeats (the residuals around the line are the noise).
// R² says how much of the spread the line explains. A figure at 100 or 250 services is the
// line's value there with the interval of the line's mean; where that lies beyond the
// largest measured service count it is an extrapolation, and says so: it assumes the cost
// keeps growing linearly (no new limits — memory, CPU, conntrack, the proxy's own tables).
//
// Figures (what a point is):
// - proxy memory: peak RSS summed over the data path's proxies (sidecars, node proxy) over
//   the measured window, from the eBPF memory probe (cell.components[*].memory);
// - proxy CPU and node CPU: CPU over the measured window of the proxies, and of everything
//   on the node but the load driver (apps + proxies, kernel work served on their time
//   included) — eBPF cpu probe where it ran, else /proc (cell.cpuSeconds);
// - p50, p99: the load's latency; saturated cells (a queue, not the path) are left out;
// - idle proxy memory, CPU, wake-ups/s: the same over the cell's idle window (cell.idle).
// A mesh without proxies (baseline, ebpf-l4) has no proxy figures to fit: it pays none.
import type { CellResult, IdleComponentResult } from '../results/types.ts';
import { MESH_NAMES, PROTOCOLS, type MeshName, type Protocol } from '../scenario/types.ts';
import { cellUsage } from './efficiency.ts';

export const SCALING_METRICS = ['proxyMemory', 'proxyCpu', 'nodeCpu', 'p50', 'p99', 'idleProxyMemory', 'idleProxyCpu', 'idleProxyWakeups'] as const;
export type ScalingMetric = (typeof SCALING_METRICS)[number];

export interface ScalingMetricInfo {
  label: string;
  /** The unit of a point's value (and of the slope, per service). */
  unit: 'MiB' | 'mCPU' | 'µs' | '/s';
  /** Proxy figures: absent from meshes without proxies. */
  proxyOnly: boolean;
  idle: boolean;
}

export const SCALING_METRIC_INFO: Record<ScalingMetric, ScalingMetricInfo> = {
  proxyMemory: { label: 'proxy memory (peak RSS, under load)', unit: 'MiB', proxyOnly: true, idle: false },
  proxyCpu: { label: 'proxy CPU (under load)', unit: 'mCPU', proxyOnly: true, idle: false },
  nodeCpu: { label: 'node CPU: apps + proxies (under load)', unit: 'mCPU', proxyOnly: false, idle: false },
  p50: { label: 'p50 latency', unit: 'µs', proxyOnly: false, idle: false },
  p99: { label: 'p99 latency', unit: 'µs', proxyOnly: false, idle: false },
  idleProxyMemory: { label: 'proxy memory, idle', unit: 'MiB', proxyOnly: true, idle: true },
  idleProxyCpu: { label: 'proxy CPU, idle', unit: 'mCPU', proxyOnly: true, idle: true },
  idleProxyWakeups: { label: 'proxy wake-ups per second, idle', unit: '/s', proxyOnly: true, idle: true },
};

/** The data path's own processes. */
export const PROXY_ROLES: ReadonlySet<string> = new Set(['client-sidecar', 'server-sidecar', 'node-proxy']);

/** Fewest points (cells) a fit is drawn through. */
export const MIN_FIT_POINTS = 3;
/**
 * Fewest service counts a fit is drawn across: through two, any cost looks linear; a third
 * lets R² and the residuals say whether it is (a run of 1 and 10 services is a comparison,
 * not a sweep).
 */
export const MIN_FIT_SERVICE_COUNTS = 3;

/** Where the fits are evaluated for the report (the 100 and 250 services per node). */
export const EXTRAPOLATE_AT = [100, 250] as const;

export const EXTRAPOLATION_CAVEAT =
  'Figures beyond the largest measured service count are extrapolations of the fitted line: they assume each added ' +
  'service keeps costing the same (no new limit on the way — memory, CPU, conntrack, a proxy’s own tables), and ' +
  'their interval covers only the line’s own uncertainty, not a change of shape.';

// ---------------------------------------------------------------------------------------
// Student's t (for the slope's interval): regularized incomplete beta by continued fraction

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), |error| < 1e-13 for x > 0.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** I_x(a, b), the regularized incomplete beta function. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(x, a, b)) / a : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with `df` degrees of freedom (bisection on the CDF); NaN for df < 1. */
export function studentTQuantile(p: number, df: number): number {
  if (!(df >= 1) || !(p > 0 && p < 1)) return Number.NaN;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

// ---------------------------------------------------------------------------------------
// The fit

export interface LinearFit {
  n: number;
  slope: number;
  intercept: number;
  /** Standard error of the slope; NaN with fewer than 3 points. */
  slopeSe: number;
  /** 95 % interval of the slope (OLS, Student t with n − 2 df); NaN with fewer than 3 points. */
  slopeLow: number;
  slopeHigh: number;
  /** Share of the variance the line explains; NaN when every y is the same. */
  r2: number;
  /** Residual standard deviation s (NaN with fewer than 3 points). */
  residualSd: number;
  xMean: number;
  /** Σ(x − x̄)². */
  sxx: number;
  xMin: number;
  xMax: number;
  /** t(0.975, n − 2). */
  t: number;
}

/** OLS line through (x, y); undefined with fewer than two distinct x. */
export function linearFit(xs: readonly number[], ys: readonly number[], confidence = 0.95): LinearFit | undefined {
  const n = xs.length;
  if (n !== ys.length) throw new RangeError(`x and y differ in length (${n}, ${ys.length})`);
  if (new Set(xs).size < 2) return undefined;
  const xMean = xs.reduce((a, b) => a + b, 0) / n;
  const yMean = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - xMean;
    const dy = ys[i]! - yMean;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  const slope = sxy / sxx;
  const intercept = yMean - slope * xMean;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (ys[i]! - (intercept + slope * xs[i]!)) ** 2;
  const dof = n - 2;
  const residualSd = dof > 0 ? Math.sqrt(sse / dof) : Number.NaN;
  const slopeSe = residualSd / Math.sqrt(sxx);
  const t = studentTQuantile(1 - (1 - confidence) / 2, dof);
  // syy of 0: every point alike; a line explains nothing there (and needs to explain nothing).
  const r2 = syy > 0 ? Math.max(0, 1 - sse / syy) : Number.NaN;
  return {
    n,
    slope,
    intercept,
    slopeSe,
    slopeLow: slope - t * slopeSe,
    slopeHigh: slope + t * slopeSe,
    r2,
    residualSd,
    xMean,
    sxx,
    xMin: Math.min(...xs),
    xMax: Math.max(...xs),
    t,
  };
}

export interface FitValue {
  services: number;
  estimate: number;
  /** 95 % interval of the line's mean there (NaN with fewer than 3 points). */
  low: number;
  high: number;
  /** Beyond the measured range: an extrapolation. */
  extrapolated: boolean;
}

/** The line's value at x, with the interval of its mean there. */
export function fitValueAt(fit: LinearFit, x: number): FitValue {
  const estimate = fit.intercept + fit.slope * x;
  const se = fit.residualSd * Math.sqrt(1 / fit.n + (x - fit.xMean) ** 2 / fit.sxx);
  return { services: x, estimate, low: estimate - fit.t * se, high: estimate + fit.t * se, extrapolated: x > fit.xMax || x < fit.xMin };
}

// ---------------------------------------------------------------------------------------
// Points from cells

export interface ScalingPoint {
  services: number;
  repeat: number;
  value: number;
}

function sum(values: Array<number | undefined>): number | undefined {
  const present = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return present.length === 0 ? undefined : present.reduce((a, b) => a + b, 0);
}

function proxyComponents(cell: CellResult): Array<[string, { role: string; cpuSeconds?: number; memory?: { peakBytes?: number } }]> {
  return Object.entries(cell.components ?? {}).filter(([, c]) => PROXY_ROLES.has(c.role));
}

function idleProxies(cell: CellResult): IdleComponentResult[] {
  return Object.values(cell.idle?.components ?? {}).filter((c) => PROXY_ROLES.has(c.role));
}

/** Whether a cell ran a proxy at all (a sidecar or a node proxy), from whatever it recorded. */
export function cellHasProxies(cell: CellResult): boolean {
  return proxyComponents(cell).length > 0 || idleProxies(cell).length > 0 || Object.keys(cell.cpuSeconds ?? {}).some((id) => PROXY_ROLES.has(id.slice(id.lastIndexOf('/') + 1)));
}

/** A cell's figure for a metric, in the metric's unit; undefined when the cell did not record it. */
export function scalingValue(cell: CellResult, metric: ScalingMetric): number | undefined {
  const windowS = cell.load.measuredMs / 1000;
  switch (metric) {
    case 'proxyMemory': {
      const proxies = proxyComponents(cell);
      if (proxies.length === 0) return cell.components ? 0 : undefined;
      const bytes = sum(proxies.map(([, c]) => c.memory?.peakBytes));
      return bytes === undefined ? undefined : bytes / 2 ** 20;
    }
    case 'proxyCpu': {
      const probed = proxyComponents(cell);
      const probedCpu = sum(probed.map(([, c]) => c.cpuSeconds));
      const procCpu = sum(Object.entries(cell.cpuSeconds ?? {}).filter(([id]) => PROXY_ROLES.has(id.slice(id.lastIndexOf('/') + 1))).map(([, s]) => s));
      const seconds = probedCpu ?? procCpu;
      if (seconds === undefined) return cellHasProxies(cell) || !cell.components ? undefined : 0;
      return windowS > 0 ? (seconds / windowS) * 1000 : undefined;
    }
    case 'nodeCpu':
      return cellUsage(cell).cpuMillicores;
    case 'p50':
      return cell.load.saturated ? undefined : cell.load.latencyUs.p50;
    case 'p99':
      return cell.load.saturated ? undefined : cell.load.latencyUs.p99;
    case 'idleProxyMemory':
    case 'idleProxyCpu':
    case 'idleProxyWakeups': {
      if (!cell.idle) return undefined;
      const proxies = idleProxies(cell);
      const idleS = cell.idle.durationMs / 1000;
      if (metric === 'idleProxyMemory') {
        const bytes = proxies.length === 0 ? 0 : sum(proxies.map((c) => c.memory?.peakBytes));
        return bytes === undefined ? undefined : bytes / 2 ** 20;
      }
      if (metric === 'idleProxyCpu') {
        const seconds = proxies.length === 0 ? 0 : sum(proxies.map((c) => c.cpuSeconds));
        return seconds === undefined || idleS <= 0 ? undefined : (seconds / idleS) * 1000;
      }
      const wakeups = proxies.length === 0 ? 0 : sum(proxies.map((c) => c.wakeups));
      return wakeups === undefined || idleS <= 0 ? undefined : wakeups / idleS;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Fits per mesh

export interface ScalingFit {
  mesh: MeshName;
  protocol: Protocol;
  metric: ScalingMetric;
  unit: ScalingMetricInfo['unit'];
  points: ScalingPoint[];
  /** Cells of this mesh left out (saturated, for latency; or without the figure). */
  excluded: number;
  /** Absent when the points do not allow a line (fewer than three service counts). */
  fit?: LinearFit;
  /** The line at 100 and 250 services (EXTRAPOLATE_AT). */
  at: FitValue[];
}

/** Every mesh × protocol × metric over at least three service counts; meshes without proxies skip proxy figures. */
export function scalingFits(cells: readonly CellResult[]): ScalingFit[] {
  const fits: ScalingFit[] = [];
  for (const protocol of PROTOCOLS) {
    for (const mesh of MESH_NAMES) {
      const meshCells = cells.filter((c) => c.mesh === mesh && c.protocol === protocol);
      if (new Set(meshCells.map((c) => c.services)).size < MIN_FIT_SERVICE_COUNTS) continue;
      const hasProxies = meshCells.some(cellHasProxies);
      for (const metric of SCALING_METRICS) {
        const info = SCALING_METRIC_INFO[metric];
        if (info.proxyOnly && !hasProxies) continue;
        const points: ScalingPoint[] = [];
        for (const cell of meshCells) {
          const value = scalingValue(cell, metric);
          if (value !== undefined && Number.isFinite(value)) points.push({ services: cell.services, repeat: cell.repeat, value });
        }
        if (points.length === 0) continue;
        points.sort((a, b) => a.services - b.services || a.repeat - b.repeat);
        // Two points always sit on a line: a fit needs a third to say anything (n − 2 ≥ 1).
        const enough = points.length >= MIN_FIT_POINTS && new Set(points.map((p) => p.services)).size >= MIN_FIT_SERVICE_COUNTS;
        const fit = enough ? linearFit(points.map((p) => p.services), points.map((p) => p.value)) : undefined;
        fits.push({
          mesh,
          protocol,
          metric,
          unit: info.unit,
          points,
          excluded: meshCells.length - points.length,
          ...(fit ? { fit } : {}),
          at: fit ? EXTRAPOLATE_AT.map((x) => fitValueAt(fit, x)) : [],
        });
      }
    }
  }
  return fits;
}
