// Open-model schedule (wrk2-style): request i is intended at t0 + i/rate, goes to target
// i mod T, and its latency runs from that intended time, not from when a connection became
// free, so a stalled server shows in the tail instead of slowing the sender down
// (no coordinated omission). Pure arithmetic, unit-tested.

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

export function targetOfRequest(index: number, targetCount: number): number {
  return index % targetCount;
}

/** Connection j serves target j mod T; how many connections each target gets. */
export function connectionsPerTarget(connections: number, targetCount: number): number[] {
  const counts = new Array<number>(targetCount).fill(0);
  for (let j = 0; j < connections; j++) counts[j % targetCount]++;
  return counts;
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
