// The default HTTP/1.1 driver, built on autocannon's client (connections, http-parser-js,
// request building) with its own timing: autocannon records integer milliseconds and paces
// a rate in per-second bursts, so this driver records µs into an HDR histogram itself and,
// for the open model, decides when each request is written (wrk2-style schedule,
// latency from the intended send time).
//
// The measured window: a response counts (latency, status, achieved rate) when it
// completes within [start + warm-up, start + warm-up + duration). After the window no new
// request is written; those in flight are awaited (≤ grace) so that every request sent is
// accounted for, as a late response. Open model: requests still waiting for a free
// connection when the window closes are never sent (accounting.unsent).
//
// Hooks on each client instance (autocannon's instance methods, wrapped, not rewritten):
// - `_doRequest` is gated: closed model sends while the window is open; open model never
//   sends by itself (the scheduler calls the original).
// - `_connect` / `_destroyConnection` / 'connError' tell a request lost with its connection
//   from an idle reconnect, so every request is accounted for exactly once.
// - the parser's body callback only drops the bytes (autocannon would concatenate the body
//   into a string per response, which nobody here reads), and the headers callback does not
//   emit an event nobody listens to.
import {
  AutocannonHttpClient,
  type AutocannonClient,
  type AutocannonClientOptions,
} from './autocannonClient.ts';
import { createLatencyHistogram, recordLatencyUs } from './histogram.ts';
import { driverOutcome, sleepUntil, waitForDrain } from './outcome.ts';
import {
  connectionTargets, intendedSendMs, nextPollDelayMs, planOpenSchedule, targetOfRequest, weightedCycle, type OpenSchedule,
  type TargetCycle,
} from './schedule.ts';
import { DEFAULT_TIMEOUT_MS } from './spec.ts';
import type { DriverOutcome, LoadSpec } from './types.ts';

export const AUTOCANNON_DRIVER_NAME = 'autocannon';

/** Longest wait for in-flight requests after the window, whatever the timeout. */
const MAX_GRACE_MS = 5_000;
/** Open model: longest wait for connections to be established before the schedule starts. */
const CONNECT_WAIT_MS = 5_000;

interface Connection {
  client: AutocannonClient;
  target: number;
  inFlight: boolean;
  /** Open model: intended send time and schedule index of the request in flight. */
  intendedMs: number;
  index: number;
  /** Set when the in-flight request died with the socket; the new socket frees the connection. */
  releaseOnConnect: boolean;
  /** autocannon's own _doRequest, bypassing the gate. */
  send: () => void;
}

const noop = (): void => {};

export interface AutocannonRunOptions {
  signal?: AbortSignal;
  /** Called when the measured window opens (after the warm-up), within ~1 ms. */
  onMeasureStart?: () => void;
}

/** Runs one load in this process (driverMain.ts runs it in a process of its own). */
export async function runAutocannonLoad(spec: LoadSpec, options: AutocannonRunOptions = {}): Promise<DriverOutcome> {
  const run = new AutocannonRun(spec);
  return run.execute(options.signal, options.onMeasureStart);
}

class AutocannonRun {
  private readonly timeoutMs: number;
  private readonly graceMs: number;
  private readonly targetCount: number;
  private readonly connections: Connection[] = [];
  private readonly latency = createLatencyHistogram();
  private readonly schedulerLateness = createLatencyHistogram();

  // Infinite until the run starts: nothing before it counts as in the window.
  private windowStartMs = Infinity;
  private windowEndMs = Infinity;
  /** No new requests once set (window over or aborted). */
  private stopping = false;
  /** Set just before the final destroy so it is not taken for a timeout. */
  private finished = false;

  // accounting
  private sent = 0;
  private responses = 0;
  private warmupResponses = 0;
  private lateResponses = 0;
  private lost = 0;
  private unsent = 0;
  private maxBacklog = 0;
  private inFlight = 0;
  // measured window
  private ok2xx = 0;
  private non2xx = 0;
  private windowCompletions = 0;
  private socketErrors = 0;

  // open model
  private schedule: OpenSchedule | undefined;
  /** Weighted spread: which target each request index goes to; absent: index mod T. */
  private readonly cycle: TargetCycle | undefined;
  private free: Connection[][] = [];
  /** Per target: indices due but not yet sent (oldest first, from `head`). */
  private backlog: Array<{ indices: number[]; head: number }> = [];
  private nextDue = 0;
  private sentIndices = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private pollImmediate: NodeJS.Immediate | undefined;
  private onInFlightDrained: (() => void) | undefined;
  private cpuAtWindowStart: NodeJS.CpuUsage | undefined;
  private driverCpuMs: number | undefined;

  constructor(private readonly spec: LoadSpec) {
    this.timeoutMs = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.graceMs = Math.min(this.timeoutMs, MAX_GRACE_MS);
    this.targetCount = spec.targets.length;
    this.cycle = spec.weights ? weightedCycle(spec.weights) : undefined;
  }

  async execute(signal?: AbortSignal, onMeasureStart?: () => void): Promise<DriverOutcome> {
    if (signal?.aborted) throw new Error('load aborted before it started');
    const open = this.spec.model === 'open';
    if (open && !(this.spec.rate! > 0)) throw new RangeError('open model needs a positive rate');
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      this.stopSending();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let measureTimer: NodeJS.Timeout | undefined;
    try {
      if (open) {
        this.free = this.spec.targets.map(() => []);
        this.backlog = this.spec.targets.map(() => ({ indices: [], head: 0 }));
      }
      const createdMs = performance.now();
      for (const target of connectionTargets(this.spec.connections, this.targetCount, this.spec.weights)) {
        this.connections.push(this.openConnection(target));
      }
      let startMs = createdMs;
      if (open) {
        await this.waitForConnections();
        if (aborted) throw new Error('load aborted');
        startMs = performance.now();
        this.schedule = planOpenSchedule(startMs, this.spec.rate!, this.spec.warmupMs, this.spec.durationMs);
        for (const c of this.connections) this.free[c.target].push(c);
      }
      this.windowStartMs = startMs + this.spec.warmupMs;
      this.windowEndMs = this.windowStartMs + this.spec.durationMs;
      measureTimer = setTimeout(() => {
        this.cpuAtWindowStart = process.cpuUsage();
        onMeasureStart?.();
      }, Math.max(0, this.windowStartMs - performance.now()));
      if (open) this.poll();
      await sleepUntil(this.windowEndMs, signal);
      if (this.cpuAtWindowStart) {
        const cpu = process.cpuUsage(this.cpuAtWindowStart);
        this.driverCpuMs = Math.round((cpu.user + cpu.system) / 100) / 10;
      }
      if (open && !this.stopping) {
        // The poll loop may be between polls: let it make the window's last requests.
        if (this.pollTimer) clearTimeout(this.pollTimer);
        if (this.pollImmediate) clearImmediate(this.pollImmediate);
        this.poll();
      }
      this.stopSending();
      await this.waitForInFlight(aborted ? 0 : this.graceMs);
    } finally {
      if (measureTimer) clearTimeout(measureTimer);
      signal?.removeEventListener('abort', onAbort);
      this.stopSending();
      this.destroyAll();
    }
    if (aborted) throw new Error('load aborted');
    return this.outcome();
  }

  private openConnection(target: number): Connection {
    const { host, port, path } = this.spec.targets[target];
    const conn: Connection = {
      client: undefined as unknown as AutocannonClient,
      target,
      inFlight: false,
      intendedMs: 0,
      index: -1,
      releaseOnConnect: false,
      send: noop,
    };
    const open = this.spec.model === 'open';
    const options: AutocannonClientOptions = {
      hostname: host,
      port,
      path: path ?? '/',
      method: 'GET',
      protocol: 'http:',
      headers: {},
      timeout: this.timeoutMs / 1000,
      // Runs inside autocannon's constructor, before its first _connect.
      setupClient: (client) => {
        conn.client = client;
        const doRequest = client._doRequest;
        const connect = client._connect;
        const destroyConnection = client._destroyConnection;
        client._doRequest = open
          ? noop
          : () => {
              if (this.stopping) return;
              conn.inFlight = true;
              this.inFlight++;
              this.sent++;
              doRequest.call(client);
            };
        conn.send = () => doRequest.call(client);
        client._connect = () => {
          // 'end' with a request in flight: autocannon reconnects without a word.
          if (conn.inFlight && !this.finished && client.pipelinedRequests.size() > 0) {
            this.loseInFlight(conn);
            client.pipelinedRequests.clear();
          }
          connect.call(client);
          if (conn.releaseOnConnect) {
            conn.releaseOnConnect = false;
            if (open) this.release(conn);
          }
        };
        client._destroyConnection = () => {
          // Timeout (autocannon destroys, re-opens, then emits 'timeout'); an idle
          // connection timing out (open model) lost nothing.
          if (conn.inFlight && !this.finished) this.loseInFlight(conn);
          destroyConnection.call(client);
        };
      },
    };
    const client = new AutocannonHttpClient(options);
    const parser = client.parser;
    parser[parser.constructor.kOnBody] = noop;
    // autocannon's version also emits 'headers' for every response; nobody listens here.
    const pipelined = client.pipelinedRequests;
    parser[parser.constructor.kOnHeadersComplete] = (info: unknown) => pipelined.setHeaders(info);
    // autocannon's resetContext deep-clones an empty context on every request.
    client.requestIterator.resetContext = noop;
    client.on('response', open ? this.onOpenResponse.bind(this, conn) : this.onClosedResponse.bind(this, conn));
    client.on('connError', () => {
      if (performance.now() >= this.windowStartMs && !this.finished) this.socketErrors++;
      if (conn.inFlight) {
        this.loseInFlight(conn, false);
        client.pipelinedRequests.clear();
      }
    });
    return conn;
  }

  /** The in-flight request of `conn` will never be answered. */
  private loseInFlight(conn: Connection, countAsError = true): void {
    conn.inFlight = false;
    this.inFlight--;
    this.lost++;
    if (countAsError && performance.now() >= this.windowStartMs) this.socketErrors++;
    conn.releaseOnConnect = true;
    this.checkDrained();
  }

  private onClosedResponse(conn: Connection, statusCode: number, _bytes: number, durationMs: number): void {
    const nowMs = performance.now();
    conn.inFlight = false;
    this.inFlight--;
    this.responses++;
    if (nowMs < this.windowStartMs) {
      this.warmupResponses++;
    } else if (nowMs < this.windowEndMs) {
      this.windowCompletions++;
      recordLatencyUs(this.latency, durationMs * 1000);
      if (statusCode >= 200 && statusCode < 300) this.ok2xx++;
      else this.non2xx++;
    } else {
      this.lateResponses++;
    }
    if (this.stopping) this.checkDrained();
    // autocannon's client calls _doRequest next: the gate sends unless stopping.
  }

  private onOpenResponse(conn: Connection, statusCode: number): void {
    const nowMs = performance.now();
    conn.inFlight = false;
    this.inFlight--;
    this.responses++;
    // Counted by completion time, like the closed model: a saturated run's window then
    // shows the (huge) latencies of what it completed, whenever those were intended.
    if (nowMs < this.windowStartMs) {
      this.warmupResponses++;
    } else if (nowMs < this.windowEndMs) {
      this.windowCompletions++;
      recordLatencyUs(this.latency, (nowMs - conn.intendedMs) * 1000);
      if (statusCode >= 200 && statusCode < 300) this.ok2xx++;
      else this.non2xx++;
    } else {
      this.lateResponses++;
    }
    this.release(conn);
    if (this.stopping) this.checkDrained();
  }

  /** A connection is free: it takes its target's oldest due request, or waits in the free list. */
  private release(conn: Connection): void {
    const queue = this.backlog[conn.target]!;
    if (!this.stopping && queue.head < queue.indices.length) {
      this.send(conn, queue.indices[queue.head++]!);
      if (queue.head === queue.indices.length) {
        queue.indices.length = 0;
        queue.head = 0;
      }
    } else {
      this.free[conn.target].push(conn);
    }
  }

  private send(conn: Connection, index: number): void {
    conn.inFlight = true;
    conn.index = index;
    conn.intendedMs = intendedSendMs(this.schedule!, index);
    this.inFlight++;
    this.sent++;
    this.sentIndices++;
    conn.send();
  }

  /** Open-model scheduler: makes due requests and writes them on free connections. */
  private poll = (): void => {
    this.pollTimer = undefined;
    this.pollImmediate = undefined;
    if (this.stopping) return;
    const schedule = this.schedule!;
    const nowMs = performance.now();
    while (this.nextDue < schedule.total) {
      const intended = intendedSendMs(schedule, this.nextDue);
      if (intended > nowMs) break;
      const index = this.nextDue++;
      const k = targetOfRequest(index, this.targetCount, this.cycle);
      const free = this.free[k];
      const queue = this.backlog[k]!;
      // Invariant: a target with a backlog has no free connection, so a due request either
      // goes out now (it is then the target's oldest unsent) or joins the backlog.
      if (free.length > 0 && queue.head === queue.indices.length) {
        if (index >= schedule.firstMeasured) recordLatencyUs(this.schedulerLateness, (performance.now() - intended) * 1000);
        this.send(free.shift()!, index);
      } else {
        queue.indices.push(index);
      }
    }
    const backlog = this.nextDue - this.sentIndices;
    if (backlog > this.maxBacklog) this.maxBacklog = backlog;
    if (this.nextDue >= schedule.total) return;
    const next = nextPollDelayMs(intendedSendMs(schedule, this.nextDue), performance.now());
    if (next === 'immediate') this.pollImmediate = setImmediate(this.poll);
    else this.pollTimer = setTimeout(this.poll, next);
  };

  private stopSending(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.pollImmediate) clearImmediate(this.pollImmediate);
    if (this.schedule) {
      // Requests due (or to come) in the run that never went out.
      this.unsent = this.schedule.total - this.sentIndices;
    }
  }

  private checkDrained(): void {
    if (this.inFlight <= 0 && this.onInFlightDrained) this.onInFlightDrained();
  }

  private waitForInFlight(graceMs: number): Promise<void> {
    return waitForDrain(() => this.inFlight, graceMs, (cb) => (this.onInFlightDrained = cb));
  }

  private waitForConnections(): Promise<void> {
    return new Promise((resolve) => {
      let pending = this.connections.length;
      const timer = setTimeout(resolve, CONNECT_WAIT_MS);
      const one = (): void => {
        if (--pending === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const c of this.connections) {
        const socket = c.client.conn;
        // ECONNREFUSED and friends count later as socket errors; do not wait for them.
        socket.once('connect', one);
        socket.once('error', one);
      }
    });
  }

  private destroyAll(): void {
    this.finished = true;
    for (const c of this.connections) {
      if (c.inFlight) {
        c.inFlight = false;
        this.inFlight--;
        this.lost++;
      }
      c.client?.destroy();
    }
  }

  private outcome(): DriverOutcome {
    return driverOutcome(AUTOCANNON_DRIVER_NAME, this.spec, {
      sent: this.sent,
      responses: this.responses,
      warmupResponses: this.warmupResponses,
      lateResponses: this.lateResponses,
      lost: this.lost,
      unsent: this.unsent,
      maxBacklog: this.maxBacklog,
      driverCpuMs: this.driverCpuMs,
      ok: this.ok2xx,
      notOk: this.non2xx,
      windowCompletions: this.windowCompletions,
      socketErrors: this.socketErrors,
    }, this.latency, this.schedulerLateness);
  }
}
