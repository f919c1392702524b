// Open-model schedule (wrk2-style): request i is intended at t0 + i/rate, goes to target
// i mod T (with weights: to the i-th slot of a weighted cycle), and its latency runs from
// that intended time, not from when a connection became free, so a stalled server shows in
// the tail instead of slowing the sender down (no coordinated omission). Pure arithmetic,
// unit-tested.

export interface OpenSchedule {
  /** performance.now() time of request 0. */
  startMs: number;
  intervalMs: number;
  /** Requests in the run (warm-up + measured window): those intended before `endMs`. */
  total: number;
  /** First request intended at or after the end of the warm-up. */
  firstMeasured: number;
  warmupEndMs: number;
  endMs: number;
}

export function planOpenSchedule(startMs: number, rate: number, warmupMs: number, durationMs: number): OpenSchedule {
  if (!(rate > 0)) throw new RangeError(`open model needs a positive rate, got ${rate}`);
  const intervalMs = 1000 / rate;
  const warmupEndMs = startMs + warmupMs;
  const endMs = warmupEndMs + durationMs;
  const schedule: OpenSchedule = { startMs, intervalMs, total: 0, firstMeasured: 0, warmupEndMs, endMs };
  schedule.total = firstIndexAtOrAfter(schedule, endMs);
  schedule.firstMeasured = firstIndexAtOrAfter(schedule, warmupEndMs);
  return schedule;
}

export function intendedSendMs(schedule: OpenSchedule, index: number): number {
  return schedule.startMs + index * schedule.intervalMs;
}

/**
 * Window boundaries are compared with this tolerance (ms), so that a request intended
 * exactly at a boundary (i/rate = warm-up) lands on the same side whatever the rounding of
 * start + i·interval: 200/s for 6 s is 1200 requests, not sometimes 1201.
 */
const BOUNDARY_EPSILON_MS = 1e-6;

/** The smallest index whose intended time is ≥ timeMs (consistent with intendedSendMs). */
export function firstIndexAtOrAfter(schedule: OpenSchedule, timeMs: number): number {
  const t = timeMs - BOUNDARY_EPSILON_MS;
  if (t <= schedule.startMs) return 0;
  let i = Math.ceil((t - schedule.startMs) / schedule.intervalMs);
  // Floating point can put the estimate one off either way; settle it on intendedSendMs.
  while (i > 0 && intendedSendMs(schedule, i - 1) >= t) i--;
  while (intendedSendMs(schedule, i) < t) i++;
  return i;
}

/** Requests due at nowMs (intended ≤ now), capped at the run's total. */
export function dueCount(schedule: OpenSchedule, nowMs: number): number {
  if (nowMs < schedule.startMs) return 0;
  let n = Math.floor((nowMs - schedule.startMs) / schedule.intervalMs) + 1;
  while (n > 0 && intendedSendMs(schedule, n - 1) > nowMs) n--;
  while (intendedSendMs(schedule, n) <= nowMs) n++;
  return Math.min(n, schedule.total);
}

export function isMeasuredIndex(schedule: OpenSchedule, index: number): boolean {
  return index >= schedule.firstMeasured && index < schedule.total;
}

export function targetOfRequest(index: number, targetCount: number, cycle?: TargetCycle): number {
  return cycle ? cycle.order[index % cycle.order.length]! : index % targetCount;
}

/**
 * Connection j serves target j mod T; how many connections each target gets. With weights
 * (one per target, ≥ 0): connections in proportion to the weights, at least one for every
 * target of positive weight and none for a target of weight 0 (apportionWeighted).
 */
export function connectionsPerTarget(connections: number, targetCount: number, weights?: readonly number[]): number[] {
  if (weights) return apportionWeighted(connections, checkedWeights(weights, targetCount));
  const counts = new Array<number>(targetCount).fill(0);
  for (let j = 0; j < connections; j++) counts[j % targetCount]++;
  return counts;
}

// ---------------------------------------------------------------------------------------
// Weighted spread (load.spread: hot): a share of the traffic per target instead of equal
// shares. Open model: the intended sends are assigned to targets by weight, in a fixed
// interleaved order (a cycle); closed model: the connections are (connectionsPerTarget).

/** Weights as given, checked: one per target, finite, ≥ 0, at least one positive. */
export function checkedWeights(weights: readonly number[], targetCount: number): number[] {
  if (weights.length !== targetCount) throw new RangeError(`need one weight per target (${targetCount}), got ${weights.length}`);
  if (weights.some((w) => !Number.isFinite(w) || w < 0)) throw new RangeError(`weights must be finite and ≥ 0, got ${weights.join(', ')}`);
  if (!weights.some((w) => w > 0)) throw new RangeError('at least one weight must be positive');
  return [...weights];
}

/**
 * Splits `total` whole units over targets in proportion to their weights: every target of
 * positive weight gets at least one, a target of weight 0 none, and the rest goes by the
 * largest remainder (ties to the lower index), so the counts are as close to
 * total × weight / Σweights as whole numbers and the minimum of one allow.
 */
export function apportionWeighted(total: number, weights: readonly number[]): number[] {
  const positive = weights.filter((w) => w > 0).length;
  if (!Number.isInteger(total) || total < positive) {
    throw new RangeError(`${total} cannot give each of the ${positive} targets of positive weight at least one`);
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  const quota = weights.map((w) => (total * w) / sum);
  const counts = quota.map((q, k) => (weights[k]! > 0 ? Math.max(1, Math.floor(q)) : 0));
  let assigned = counts.reduce((a, b) => a + b, 0);
  // Too many (the minimum of one lifted small quotas): take back where the count exceeds its quota most.
  while (assigned > total) {
    let worst = -1;
    for (let k = 0; k < counts.length; k++) {
      if (counts[k]! > 1 && (worst === -1 || counts[k]! - quota[k]! > counts[worst]! - quota[worst]!)) worst = k;
    }
    counts[worst]!--;
    assigned--;
  }
  // Too few: give to the largest remainders.
  while (assigned < total) {
    let best = -1;
    for (let k = 0; k < counts.length; k++) {
      if (weights[k]! > 0 && (best === -1 || quota[k]! - counts[k]! > quota[best]! - counts[best]!)) best = k;
    }
    counts[best]!++;
    assigned++;
  }
  return counts;
}

/** The order in which the open model's requests go to targets: request i to order[i mod length]. */
export interface TargetCycle {
  order: number[];
}

/** Longest cycle: enough for shares down to 1 in 100 000. */
const MAX_CYCLE = 100_000;

/**
 * A cycle over the targets in which each appears in proportion to its weight, spread out
 * (interleave), so a target's requests are evenly spaced in time rather than in bursts. Its length is the smallest that gives the smallest positive share one slot
 * (at most 100 000); with equal weights it is 0, 1, …, T − 1, i.e. round robin.
 */
export function weightedCycle(weights: readonly number[]): TargetCycle {
  const w = checkedWeights(weights, weights.length);
  const sum = w.reduce((a, b) => a + b, 0);
  const smallest = Math.min(...w.filter((x) => x > 0)) / sum;
  const positive = w.filter((x) => x > 0).length;
  const length = Math.min(MAX_CYCLE, Math.max(positive, Math.round(1 / smallest)));
  return { order: interleave(apportionWeighted(length, w)) };
}

/**
 * Σcounts slots in which target k appears exactly counts[k] times, spread out: each slot
 * goes to the target furthest behind its share (smooth weighted round robin, ties to the
 * lower index). Equal counts give 0, 1, …, T − 1 repeated.
 */
export function interleave(counts: readonly number[]): number[] {
  const length = counts.reduce((a, b) => a + b, 0);
  const current = new Array<number>(counts.length).fill(0);
  const order: number[] = [];
  for (let i = 0; i < length; i++) {
    let best = -1;
    for (let k = 0; k < counts.length; k++) {
      current[k]! += counts[k]!;
      if (counts[k]! > 0 && (best === -1 || current[k]! > current[best]!)) best = k;
    }
    current[best]! -= length;
    order.push(best);
  }
  return order;
}

/**
 * Which target each of `connections` connections serves. Without weights connection j
 * serves j mod T (round robin); with weights, each target's share of them
 * (connectionsPerTarget), interleaved.
 */
export function connectionTargets(connections: number, targetCount: number, weights?: readonly number[]): number[] {
  if (!weights) return Array.from({ length: connections }, (_, j) => j % targetCount);
  return interleave(connectionsPerTarget(connections, targetCount, weights));
}

/**
 * Weights of `load.spread: hot`: the first target (service 1) gets `hotShare` of the
 * traffic, the others share the rest evenly (none at all with hotShare 1).
 */
export function hotWeights(targetCount: number, hotShare: number): number[] {
  if (!(hotShare > 0 && hotShare <= 1)) throw new RangeError(`hotShare must be in (0, 1], got ${hotShare}`);
  if (targetCount === 1) return [1];
  const rest = (1 - hotShare) / (targetCount - 1);
  return [hotShare, ...new Array<number>(targetCount - 1).fill(rest)];
}

/**
 * When the scheduler should look again, given the next intended send time. Node timers
 * fire up to ~1 ms late, so a timer is used only to get close; the last stretch is polled
 * with setImmediate (the driver has a CPU of its own).
 */
export function nextPollDelayMs(nextIntendedMs: number, nowMs: number, spinWindowMs = 1.5): number | 'immediate' {
  const wait = nextIntendedMs - nowMs;
  return wait > spinWindowMs + 0.5 ? Math.floor(wait - spinWindowMs) : 'immediate';
}
