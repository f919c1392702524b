// Statistics for reports and the regression gate. Pure and seeded: the same figures and
// the same seed give the same intervals, so a re-rendered report matches the original.
//
// The unit of replication is the repeat (a cell): two cells of one mesh ran minutes apart
// and differ by more than their requests' sampling noise, so intervals resample repeats.
// Where a repeat carries its whole latency histogram, each resampled repeat also draws its
// percentile from that histogram's own bootstrap distribution (a two-level bootstrap), so
// one repeat still has an honest width instead of none.
//
// Conventions: intervals are percentile-bootstrap intervals (type-7 quantiles of the
// replicates); p-values are two-sided; a "difference" is always next − base.

/** Uniform in [0, 1). */
export type Random = () => number;

/** mulberry32: a tiny, fast 32-bit PRNG; good enough for resampling, and seedable. */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from text (FNV-1a), so every comparison has its own stream, independent of order. */
export function seedFrom(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Standard normal by Box–Muller (one of the pair; simplicity over speed). */
export function standardNormal(rng: Random): number {
  let u = 0;
  while (u === 0) u = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 through the usual u^(1/shape) boost. */
export function gammaSample(shape: number, rng: Random): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = rng();
    return gammaSample(shape + 1, rng) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) as Ga/(Ga + Gb). */
export function betaSample(a: number, b: number, rng: Random): number {
  const x = gammaSample(a, rng);
  const y = gammaSample(b, rng);
  return x / (x + y);
}

// ---------------------------------------------------------------------------------------
// Descriptive

/** Median; NaN for no values. */
export function medianOf(values: readonly number[]): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort(); // typed arrays sort numerically, and fast
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Type-7 (linear interpolation) quantile of ascending values, q in [0, 1]; NaN for none. */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** A figure over repeats: its median and the full range, as reports show it. */
export interface Spread {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function spreadOf(values: readonly number[]): Spread {
  return {
    n: values.length,
    median: medianOf(values),
    min: values.length === 0 ? Number.NaN : Math.min(...values),
    max: values.length === 0 ? Number.NaN : Math.max(...values),
  };
}

// ---------------------------------------------------------------------------------------
// The bootstrap loop (the only one)

export interface BootstrapOptions {
  seed: number;
  /** Replicates; default 2000 (the 2.5 % tail then rests on 50 replicates). */
  iterations?: number;
}

export const DEFAULT_BOOTSTRAP_ITERATIONS = 2000;

/**
 * Runs `replicate` `iterations` times on one seeded stream and returns, for each statistic
 * the replicate yields, its replicates in ascending order (NaN replicates dropped).
 */
export function bootstrapReplicates(replicate: (rng: Random) => readonly number[], options: BootstrapOptions): Float64Array[] {
  const iterations = options.iterations ?? DEFAULT_BOOTSTRAP_ITERATIONS;
  const rng = mulberry32(options.seed);
  const columns: number[][] = [];
  for (let i = 0; i < iterations; i++) {
    const statistics = replicate(rng);
    for (let s = 0; s < statistics.length; s++) {
      (columns[s] ??= []).push(statistics[s]!);
    }
  }
  return columns.map((column) => Float64Array.from(column.filter((v) => !Number.isNaN(v))).sort());
}

/** The central `confidence` interval of ascending replicates; NaNs when there are none. */
export function percentileInterval(sortedReplicates: ArrayLike<number>, confidence = 0.95): [low: number, high: number] {
  const tail = (1 - confidence) / 2;
  return [quantileOfSorted(sortedReplicates, tail), quantileOfSorted(sortedReplicates, 1 - tail)];
}

// ---------------------------------------------------------------------------------------
// Difference of medians

/**
 * One experimental unit (a repeat): its figure, and optionally a draw of that figure from
 * its own sampling distribution (e.g. a percentile re-drawn from the repeat's histogram).
 */
export interface Unit {
  value: number;
  resample?: (rng: Random) => number;
}

/** Median of a resample (with replacement) of the units, each redrawn where it can be. */
export function resampledMedian(units: readonly Unit[], rng: Random): number {
  const draws = new Array<number>(units.length);
  for (let i = 0; i < units.length; i++) {
    const unit = units[Math.floor(rng() * units.length)]!;
    draws[i] = unit.resample ? unit.resample(rng) : unit.value;
  }
  return medianOf(draws);
}

export interface DifferenceEstimate {
  /** median(next) − median(base). */
  estimate: number;
  /** Bounds of the bootstrap interval of the difference. */
  low: number;
  high: number;
  /** The same relative to median(base), in %; NaN when median(base) is 0. */
  estimatePct: number;
  lowPct: number;
  highPct: number;
  confidence: number;
  iterations: number;
}

export interface DifferenceOptions extends BootstrapOptions {
  confidence?: number;
}

/**
 * Bootstrap interval of the difference of medians (next − base), absolute and relative,
 * from one set of replicates. Each group is resampled on its own (the groups are not paired).
 */
export function differenceOfMedians(base: readonly Unit[], next: readonly Unit[], options: DifferenceOptions): DifferenceEstimate {
  const confidence = options.confidence ?? 0.95;
  const iterations = options.iterations ?? DEFAULT_BOOTSTRAP_ITERATIONS;
  const baseMedian = medianOf(base.map((u) => u.value));
  const nextMedian = medianOf(next.map((u) => u.value));
  const estimate = nextMedian - baseMedian;
  const estimatePct = baseMedian === 0 ? Number.NaN : (estimate / baseMedian) * 100;
  if (base.length === 0 || next.length === 0) {
    return { estimate, low: NaN, high: NaN, estimatePct, lowPct: NaN, highPct: NaN, confidence, iterations: 0 };
  }
  const [absolute, relative] = bootstrapReplicates((rng) => {
    const b = resampledMedian(base, rng);
    const n = resampledMedian(next, rng);
    return [n - b, b === 0 ? Number.NaN : ((n - b) / b) * 100];
  }, { seed: options.seed, iterations });
  const [low, high] = percentileInterval(absolute!, confidence);
  // A relative interval only when every replicate had a non-zero base.
  const [lowPct, highPct] = relative!.length === iterations ? percentileInterval(relative!, confidence) : [NaN, NaN];
  return { estimate, low, high, estimatePct, lowPct, highPct, confidence, iterations };
}

/** True when the interval lies wholly above (or below) zero. */
export function excludesZero(estimate: Pick<DifferenceEstimate, 'low' | 'high'>): boolean {
  return estimate.low > 0 || estimate.high < 0;
}

// ---------------------------------------------------------------------------------------
// Permutation test

export interface PermutationResult {
  /** Two-sided p-value for |median(next) − median(base)| under exchangeability. */
  pValue: number;
  /** True when every relabelling was enumerated (small groups); else Monte Carlo. */
  exact: boolean;
  /** Relabellings enumerated or drawn. */
  permutations: number;
  /**
   * The p-value of fully separated groups of these sizes (evenly spread values): the
   * smallest this test can report for them. With medians of 3 + 3 repeats it is 0.2, of
   * 2 + 2 it is 1/3 — a reader must know that "p = 0.2" may be the strongest answer there is.
   */
  minAttainable: number;
}

export interface PermutationOptions {
  seed: number;
  /** Enumerate when C(n, k) ≤ this, else draw this many relabellings; default 10 000. */
  iterations?: number;
}

/**
 * Permutation test of "the two groups' medians differ": relabel the pooled values, count
 * relabellings whose |difference of medians| is at least the observed one. Exact for
 * small groups (3 + 3 repeats have 20 relabellings); otherwise Monte Carlo with the
 * (count + 1) / (draws + 1) estimate.
 */
export function permutationTest(base: readonly number[], next: readonly number[], options: PermutationOptions): PermutationResult {
  const result = permutationPValue(base, next, options);
  const separatedBase = base.map((_, i) => i + 1);
  const separatedNext = next.map((_, i) => base.length + i + 1);
  const minAttainable = base.length === 0 || next.length === 0 ? NaN : permutationPValue(separatedBase, separatedNext, options).pValue;
  return { ...result, minAttainable };
}

function permutationPValue(
  base: readonly number[],
  next: readonly number[],
  options: PermutationOptions,
): Omit<PermutationResult, 'minAttainable'> {
  const iterations = options.iterations ?? 10_000;
  const pooled = [...base, ...next];
  const n = pooled.length;
  const k = base.length;
  if (k === 0 || next.length === 0) return { pValue: NaN, exact: true, permutations: 0 };
  const observed = Math.abs(medianOf(next) - medianOf(base));
  // Differences equal up to float noise count as "at least as extreme".
  const tolerance = 1e-9 * Math.max(1, ...pooled.map(Math.abs));
  const statistic = (inBase: boolean[]): number => {
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < n; i++) (inBase[i] ? a : b).push(pooled[i]!);
    return Math.abs(medianOf(b) - medianOf(a));
  };
  const total = binomial(n, k);
  if (total <= iterations) {
    let extreme = 0;
    for (const inBase of combinations(n, k)) {
      if (statistic(inBase) >= observed - tolerance) extreme++;
    }
    return { pValue: extreme / total, exact: true, permutations: total };
  }
  const rng = mulberry32(options.seed);
  const indices = Array.from({ length: n }, (_, i) => i);
  let extreme = 0;
  for (let draw = 0; draw < iterations; draw++) {
    // Partial Fisher–Yates: the first k shuffled indices form the base group.
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(rng() * (n - i));
      [indices[i], indices[j]] = [indices[j]!, indices[i]!];
    }
    const inBase = new Array<boolean>(n).fill(false);
    for (let i = 0; i < k; i++) inBase[indices[i]!] = true;
    if (statistic(inBase) >= observed - tolerance) extreme++;
  }
  return { pValue: (extreme + 1) / (iterations + 1), exact: false, permutations: iterations };
}

export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let result = 1;
  for (let i = 1; i <= Math.min(k, n - k); i++) result = (result * (n - i + 1)) / i;
  return Math.round(result);
}

/** Every way to choose k of n positions, as membership flags. */
function* combinations(n: number, k: number): Generator<boolean[]> {
  const chosen = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    const flags = new Array<boolean>(n).fill(false);
    for (const i of chosen) flags[i] = true;
    yield flags;
    let i = k - 1;
    while (i >= 0 && chosen[i] === n - k + i) i--;
    if (i < 0) return;
    chosen[i]!++;
    for (let j = i + 1; j < k; j++) chosen[j] = chosen[j - 1]! + 1;
  }
}
