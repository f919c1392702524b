// The load driver stage: a LoadSpec in, a LoadOutcome (results/types.ts) out. A driver knows
// addresses and a load model; it does not know about meshes, pods or reports.
import type { LoadModel } from '../scenario/types.ts';
import type { LatencySummaryUs, LoadOutcome } from '../results/types.ts';

/** One service as the client sees it (a VIP in a run, 127.0.0.1 in tests). */
export interface LoadTarget {
  host: string;
  port: number;
  /** Request path; '/' when absent. */
  path?: string;
}

export interface LoadSpec {
  /** One per service; connection j goes to targets[j % targets.length] unless weighted. */
  targets: LoadTarget[];
  model: LoadModel;
  /** Total requests/s over all targets (open model only; required there). */
  rate?: number;
  /** Total connections over all targets (at least one per target that gets traffic). */
  connections: number;
  /**
   * Share of the traffic per target (one weight ≥ 0 per target; they need not sum to 1).
   * Absent: every target alike, round robin. Open model: the intended sends are assigned
   * by weight (schedule.ts weightedCycle); closed model, and the open model's connections:
   * connections by weight, at least one per target of positive weight, none for weight 0.
   */
  weights?: number[];
  /** Measured window. */
  durationMs: number;
  /** Window before the measured one; nothing in it counts in any figure. */
  warmupMs: number;
  /**
   * A request without a response for this long is a timeout (a socket error; the
   * connection is re-opened). Also bounds how long the driver waits for in-flight
   * requests after the window. Default 10 000.
   */
  timeoutMs?: number;
}

/**
 * How every request of a run was accounted for, warm-up and drain included, so a
 * server-side counter can be checked against the driver exactly:
 *   sent = responses + lost
 *   responses = warmupResponses + (requests + non2xx) + lateResponses
 * (`requests`/`non2xx` are the LoadOutcome's measured-window counts).
 */
export interface LoadAccounting {
  /** Requests written to a socket over the whole run. */
  sent: number;
  /** Responses received over the whole run, any status. */
  responses: number;
  /** Responses completed before the measured window (warm-up). */
  warmupResponses: number;
  /** Responses to requests in flight when the window closed, completed after it. */
  lateResponses: number;
  /** Requests sent that never got a response: connection error, timeout, or still in flight at the stop. */
  lost: number;
  /** Open model: requests due in the window that never found a free connection before it closed. */
  unsent: number;
  /** Open model: the largest backlog (requests due but not yet sent) seen in the run. */
  maxBacklog: number;
  /**
   * Open model: how late the scheduler wrote requests that found a free connection at
   * their intended time (send time − intended time), measured window only.
   */
  schedulerLatenessUs?: LatencySummaryUs;
  /** Requests that got no answer within timeoutMs (each also a socket error and lost). Not every driver counts them. */
  timeouts?: number;
  /** TCP (HTTP/2) connections opened over the run, re-opens included. Not every driver counts them. */
  connectionsOpened?: number;
  /**
   * The driver's CPU scheduling: `fifo` when the native driver ran its open model at a
   * real-time priority (SCHED_FIFO, where permitted), `other` when it did not.
   */
  scheduling?: 'fifo' | 'other';
  /** Driver processes whose results were merged (1 unless the driver split the load). */
  processes: number;
  /**
   * CPU time (user + system) the driver process used during the measured window, ms.
   * Near durationMs means the driver, not the system under test, set the pace.
   */
  driverCpuMs?: number;
}

/** What a driver returns: a LoadOutcome (exactly what result.json stores) plus its accounting. */
export interface DriverOutcome extends LoadOutcome {
  accounting: LoadAccounting;
}

export interface DriverRunOptions {
  /**
   * Command prefix the driver process is started with, e.g.
   * `['taskset', '-c', '0', 'ip', 'netns', 'exec', 'NS']`. Empty: a plain child process.
   */
  spawnPrefix?: readonly string[];
  /** Aborting kills the driver process. */
  signal?: AbortSignal;
  /** Called with the pid of each driver process as it starts. */
  onSpawn?: (pid: number) => void;
  /** Called when the measured window opens (drivers that run the warm-up in a process of its own: when that ends). */
  onMeasureStart?: () => void;
}

/**
 * The drivers a scenario can name (`load.driver`): `native` (native/driver.c: C, epoll,
 * libnghttp2 for gRPC; the default), `autocannon` (Node: autocannon's HTTP/1.1 client, or
 * for gRPC cells the Node gRPC driver), `wrk` (HTTP/1.1 closed model only).
 */
export const DRIVER_NAMES = ['native', 'autocannon', 'wrk'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export interface LoadDriver {
  readonly name: DriverName;
  /** Runs one load in a child process and returns its outcome; rejects on failure. */
  run(spec: LoadSpec, options?: DriverRunOptions): Promise<DriverOutcome>;
}

/** Strips what is not part of result.json's LoadOutcome. */
export function toLoadOutcome(outcome: DriverOutcome): LoadOutcome {
  const { accounting: _accounting, ...loadOutcome } = outcome;
  return loadOutcome;
}
