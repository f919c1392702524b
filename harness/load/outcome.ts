// What the Node drivers (autocannon.ts, grpcDriver.ts) share besides the schedule: the
// outcome they assemble from their counters, and the wait for the end of the window. (The
// native driver, native/driver.c, prints the same outcome itself.)
import type { LoadOutcome } from '../results/types.ts';
import { encodeHistogram, summarizeLatencyUs, type LatencyHistogram } from './histogram.ts';
import type { DriverOutcome, LoadAccounting, LoadSpec } from './types.ts';

/** A run's counters (whole run and measured window), as both Node drivers keep them. */
export interface RunCounters extends Pick<LoadAccounting, 'sent' | 'responses' | 'warmupResponses' | 'lateResponses' | 'lost' | 'unsent' | 'maxBacklog' | 'driverCpuMs'> {
  /** Measured window: answers that count as successes (2xx; gRPC status 0 with the replies asked for). */
  ok: number;
  /** Measured window: every other answer. */
  notOk: number;
  /** Measured window: answers of any kind (the achieved rate). */
  windowCompletions: number;
  /** Measured window: connection errors, lost requests, timeouts. */
  socketErrors: number;
}

/** The DriverOutcome of a run: LoadOutcome (what result.json stores) + accounting. */
export function driverOutcome(
  driver: string,
  spec: LoadSpec,
  counters: RunCounters,
  latency: LatencyHistogram,
  schedulerLateness: LatencyHistogram,
): DriverOutcome {
  const measuredMs = spec.durationMs;
  const achievedRps = counters.windowCompletions / (measuredMs / 1000);
  const open = spec.model === 'open';
  const outcome: LoadOutcome = {
    driver,
    model: spec.model,
    achievedRps: Math.round(achievedRps * 10) / 10,
    requests: counters.ok,
    non2xx: counters.notOk,
    socketErrors: counters.socketErrors,
    connections: spec.connections,
    measuredMs,
    saturated: open ? achievedRps < 0.95 * spec.rate! : false,
    latencyUs: summarizeLatencyUs(latency),
    histogram: encodeHistogram(latency),
  };
  if (open) outcome.requestedRps = spec.rate;
  return {
    ...outcome,
    accounting: {
      sent: counters.sent,
      responses: counters.responses,
      warmupResponses: counters.warmupResponses,
      lateResponses: counters.lateResponses,
      lost: counters.lost,
      unsent: counters.unsent,
      maxBacklog: counters.maxBacklog,
      ...(open ? { schedulerLatenessUs: summarizeLatencyUs(schedulerLateness) } : {}),
      processes: 1,
      ...(counters.driverCpuMs !== undefined ? { driverCpuMs: counters.driverCpuMs } : {}),
    },
  };
}

/** Until performance.now() ≥ timeMs: a timer to get close (it may fire ~1 ms off), then polls; an abort ends it early. */
export function sleepUntil(timeMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;
    const finish = (): void => {
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const check = (): void => {
      timer = undefined;
      immediate = undefined;
      const left = timeMs - performance.now();
      if (left <= 0) finish();
      else if (left > 3) timer = setTimeout(check, left - 2);
      else immediate = setImmediate(check);
    };
    if (signal?.aborted) return resolve();
    signal?.addEventListener('abort', finish, { once: true });
    check();
  });
}

/**
 * Resolves when `inFlight()` is 0 or after graceMs; `onDrained` is how the driver says it
 * may be (it sets the callback and calls it whenever a request ends while stopping).
 */
export function waitForDrain(inFlight: () => number, graceMs: number, setOnDrained: (cb: (() => void) | undefined) => void): Promise<void> {
  if (inFlight() <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, graceMs);
    function done(): void {
      clearTimeout(timer);
      setOnDrained(undefined);
      resolve();
    }
    setOnDrained(done);
  });
}
