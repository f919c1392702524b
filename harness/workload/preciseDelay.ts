// Timers precise to tens of µs for the workload server's added latency, without burning
// the CPU it shares with the proxies.
//
// Node timers have 1 ms granularity (and fire up to ~1 ms late); spinning the event loop
// costs a whole core. Here a waker thread sleeps in Atomics.wait (a futex with a
// fractional-ms timeout) until the earliest wake-up time — the due time minus the wake-up
// lateness measured at start-up — and wakes the main thread with postMessage; the main
// thread fires what is due, waiting out the last few µs of an early wake-up in a short
// spin. The waker sets its own timer slack to 1 ns (/proc/<tid>/timerslack_ns; else the
// kernel may defer the futex timeout by up to 50 µs: median futex lateness 95 → 50 µs here)
// and runs SCHED_FIFO when allowed. Closely spaced timers share a wake-up (MIN_WAKE_GAP_US),
// and each request the server handles fires what is due (fireDue) on its way.
//
// Measured on this host (2 vCPU Firecracker VM shared with other work; measureDelay.ts,
// pinned to one CPU, 2 ms delays, arrivals spread evenly):
//   mode     error p50 / p90          CPU per timer        (p99: ms-scale in every mode,
//   worker   +5…45 µs / +45…100 µs    ~195 µs at 200/s,     from the host's contention)
//                                     ~85 µs at 1 k/s, ~60 µs at 5 k/s
//   timer    +220 µs / +300 µs (and up to −0.9 ms early: whole-ms timeouts)   ~10 µs
//   spin     +2…8 µs / +50 µs…1.4 ms  40–97 % of a core whatever the rate
// The worker's cost is the VM's: a bare futex sleep/wake costs 30–75 µs of CPU here, a
// wake-up of the main thread as much again. The server uses 'worker'; 'timer' (cheap,
// coarse) is available with --delay-mode timer.
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';

export type PreciseDelayMode = 'worker' | 'timer' | 'spin';

export interface PreciseTimer {
  readonly mode: PreciseDelayMode;
  /** Subtracted from each deadline for the worker's wake-up (µs, measured at start-up). */
  readonly compensationUs: number;
  /** Calls `fire` once `delayUs` µs from now have passed (as close as the mode can). */
  schedule(delayUs: number, fire: () => void): void;
  /**
   * Fires what is due now, without waiting for a wake-up: cheap (a clock read and a heap
   * peek), called by the server whenever it runs anyway (each request), so that at high
   * rates timers fire on time on the back of the traffic.
   */
  fireDue(): void;
  /** Timers pending. */
  readonly pending: number;
  /** How the timer runs (waker thread id, scheduling policy, timer slack), for logs and stats. */
  readonly details: Record<string, string | number>;
  close(): Promise<void>;
}

export interface PreciseTimerOptions {
  mode?: PreciseDelayMode;
  /** Measure the wake-up lateness at start-up (worker mode). Default true. */
  calibrate?: boolean;
  /** Fixed compensation instead of calibrating (µs). */
  compensationUs?: number;
  /**
   * Run the waker thread SCHED_FIFO (chrt) so it preempts whatever shares its CPU the moment
   * its futex times out (it only ever sleeps in the futex, never spins). Measured here: p99
   * wake-up lateness 630 µs → 160 µs on an otherwise idle CPU. Falls back to SCHED_OTHER
   * when not permitted. Default true.
   */
  realtime?: boolean;
}

/** Monotonic clock in µs, the same in every thread (CLOCK_MONOTONIC). */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

interface PendingTimer {
  dueUs: number;
  fire: () => void;
}

/** Binary min-heap on dueUs; ties fire in insertion order is not needed. */
class TimerHeap {
  private readonly items: PendingTimer[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): PendingTimer | undefined {
    return this.items[0];
  }
  push(t: PendingTimer): void {
    const a = this.items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].dueUs <= t.dueUs) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = t;
  }
  pop(): PendingTimer | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && a[r].dueUs < a[l].dueUs ? r : l;
        if (a[c].dueUs >= last.dueUs) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

// Shared state between the main thread and the waker thread.
const RING_SIZE = 1 << 16; // wake-up times in flight at most (a server with 2 ms delay at 20 k req/s has 40)
const CTRL_TAIL = 0; // wake-up times pushed so far (main writes)
const CTRL_STOP = 1;
const CTRL_IDLE = 2; // 1 while the waker sleeps with nothing pending
/** An early wake-up this close to the due time is waited out in the main thread. */
const SPIN_US = 20;
/**
 * Shortest interval between two wake-ups of the waker: timers closer together than this
 * fire together (up to this much late), unless a request arriving in between fires them
 * (fireDue). Bounds the waker's CPU at high rates.
 */
const MIN_WAKE_GAP_US = 100;

// The waker thread: takes wake-up times from the ring into its own heap, sleeps in
// Atomics.wait until the earliest (or until the main thread pushes an earlier one), posts
// one message for everything due, and goes straight back to sleep: the main thread only
// notifies it when it is idle or when a new time is earlier than the one it sleeps for.
// Plain JS so it runs without a loader.
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const ctrl = new Int32Array(workerData.ctrl);
const ring = new Float64Array(workerData.ring);
const sleepingFor = new Float64Array(workerData.sleepingFor);
const MASK = ring.length - 1;
let slack = 'unchanged';
let tid = 0;
try {
  // /proc/<tid>/timerslack_ns (the task directories have no such file); own thread: no privilege needed.
  tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  fs.writeFileSync('/proc/' + tid + '/timerslack_ns', '1');
  slack = fs.readFileSync('/proc/' + tid + '/timerslack_ns', 'utf8').trim() + 'ns';
} catch (e) { slack = String(e.code || e); }
parentPort.postMessage({ ready: true, slack, tid });
const now = () => Number(process.hrtime.bigint()) / 1000;
const heap = [];
function push(v) {
  let i = heap.length; heap.push(v);
  while (i > 0) { const p = (i - 1) >> 1; if (heap[p] <= v) break; heap[i] = heap[p]; i = p; }
  heap[i] = v;
}
function pop() {
  const top = heap[0], last = heap.pop();
  if (heap.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1; if (l >= heap.length) break;
      const r = l + 1, c = r < heap.length && heap[r] < heap[l] ? r : l;
      if (heap[c] >= last) break;
      heap[i] = heap[c]; i = c;
    }
    heap[i] = last;
  }
  return top;
}
let head = 0;
let lastWake = -Infinity;
while (Atomics.load(ctrl, ${CTRL_STOP}) === 0) {
  const tail = Atomics.load(ctrl, ${CTRL_TAIL});
  while (head !== tail) { push(ring[head & MASK]); head = (head + 1) | 0; }
  if (heap.length === 0) {
    sleepingFor[0] = Infinity;
    Atomics.store(ctrl, ${CTRL_IDLE}, 1);
    Atomics.wait(ctrl, ${CTRL_TAIL}, tail);
    Atomics.store(ctrl, ${CTRL_IDLE}, 0);
    continue;
  }
  const t = now();
  if (heap[0] <= t) {
    while (heap.length > 0 && heap[0] <= t) pop();
    parentPort.postMessage(0);
    lastWake = t;
    continue;
  }
  // At most one wake-up per MIN_GAP: closely spaced timers share one (each wake-up is a
  // context switch pair, tens of µs of CPU on a VM).
  const target = Math.max(heap[0], lastWake + ${MIN_WAKE_GAP_US});
  sleepingFor[0] = target;
  Atomics.wait(ctrl, ${CTRL_TAIL}, tail, (target - t) / 1000);
}
`;

class WorkerTimer implements PreciseTimer {
  readonly mode = 'worker' as const;
  compensationUs: number;
  private readonly heap = new TimerHeap();
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(16));
  private readonly ring = new Float64Array(new SharedArrayBuffer(8 * RING_SIZE));
  private readonly sleepingFor = new Float64Array(new SharedArrayBuffer(8));
  private tail = 0;
  private readonly worker: Worker;
  private closed = false;
  timerSlack = 'unknown';
  wakerTid = 0;
  wakerPolicy = 'SCHED_OTHER';

  constructor(compensationUs: number) {
    this.compensationUs = compensationUs;
    this.sleepingFor[0] = Infinity;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ctrl: this.ctrl.buffer, ring: this.ring.buffer, sleepingFor: this.sleepingFor.buffer },
    });
    this.worker.on('message', this.onWake);
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: unknown): void => {
        if (typeof m === 'object' && m !== null && 'ready' in m) {
          const ready = m as { slack?: unknown; tid?: unknown };
          this.timerSlack = String(ready.slack);
          this.wakerTid = Number(ready.tid);
          this.worker.off('error', reject);
          this.worker.off('message', onMessage);
          resolve();
        }
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
    });
  }

  get pending(): number {
    return this.heap.size;
  }

  get details(): Record<string, string | number> {
    return {
      mode: this.mode,
      compensationUs: Math.round(this.compensationUs * 10) / 10,
      wakerTid: this.wakerTid,
      wakerPolicy: this.wakerPolicy,
      timerSlack: this.timerSlack,
    };
  }

  /** SCHED_FIFO priority 1 for the waker thread; returns the policy it ends up with. */
  makeRealtime(): string {
    if (!this.wakerTid) return this.wakerPolicy;
    const r = spawnSync('chrt', ['--fifo', '-p', '1', String(this.wakerTid)], { encoding: 'utf8', timeout: 5_000 });
    if (r.status === 0) this.wakerPolicy = 'SCHED_FIFO/1';
    else this.wakerPolicy = `SCHED_OTHER (chrt failed: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]})`;
    return this.wakerPolicy;
  }

  schedule(delayUs: number, fire: () => void): void {
    if (this.heap.size >= RING_SIZE - 1) {
      // Far beyond any server's concurrency; degrade to a plain timer rather than overrun.
      setTimeout(fire, delayUs / 1000);
      return;
    }
    const dueUs = nowUs() + delayUs;
    this.heap.push({ dueUs, fire });
    this.pushWake(dueUs - this.compensationUs);
  }

  private pushWake(wakeUs: number): void {
    this.ring[this.tail & (RING_SIZE - 1)] = wakeUs;
    this.tail = (this.tail + 1) | 0;
    Atomics.store(this.ctrl, CTRL_TAIL, this.tail);
    if (wakeUs < this.earliestUnannouncedUs) this.earliestUnannouncedUs = wakeUs;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  // One notify per batch (e.g. all requests parsed from one socket read), not per timer:
  // each notify is a futex wake and, the waker being SCHED_FIFO, a context switch.
  private earliestUnannouncedUs = Infinity;
  private flushQueued = false;
  private flush = (): void => {
    this.flushQueued = false;
    const earliest = this.earliestUnannouncedUs;
    this.earliestUnannouncedUs = Infinity;
    if (Atomics.load(this.ctrl, CTRL_IDLE) === 1 || earliest < this.sleepingFor[0]) Atomics.notify(this.ctrl, CTRL_TAIL);
  };

  fireDue(): void {
    for (let next = this.heap.peek(); next !== undefined && next.dueUs <= nowUs(); next = this.heap.peek()) {
      this.heap.pop()!.fire();
    }
  }

  private onWake = (m: unknown): void => {
    if (m !== 0 || this.closed) return;
    // Fire what is due, waiting out the last few µs of a wake-up that came a little early
    // (at most SPIN_US: a longer spin would chain through closely spaced timers and burn
    // the CPU the server shares).
    let now = nowUs();
    for (;;) {
      const next = this.heap.peek();
      if (next === undefined || next.dueUs > now + SPIN_US) break;
      while (next.dueUs > now) now = nowUs();
      this.heap.pop()!.fire();
      now = nowUs();
    }
    // A timer whose wake-up time has passed may have been consumed by the waker although it
    // is not due yet (an early wake-up): hand it back, so the waker wakes us again for it.
    const next = this.heap.peek();
    if (next !== undefined && next.dueUs - this.compensationUs <= now) this.pushWake(next.dueUs - this.compensationUs);
  };

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctrl, CTRL_STOP, 1);
    Atomics.add(this.ctrl, CTRL_TAIL, 1);
    Atomics.notify(this.ctrl, CTRL_TAIL);
    await this.worker.terminate();
  }
}

class SetTimeoutTimer implements PreciseTimer {
  readonly mode = 'timer' as const;
  readonly compensationUs = 0;
  readonly details = { mode: 'timer' };
  pending = 0;
  schedule(delayUs: number, fire: () => void): void {
    this.pending++;
    setTimeout(() => {
      this.pending--;
      fire();
    }, delayUs / 1000);
  }
  fireDue(): void {}
  async close(): Promise<void> {}
}

class SpinTimer implements PreciseTimer {
  readonly mode = 'spin' as const;
  readonly compensationUs = 0;
  readonly details = { mode: 'spin' };
  private readonly heap = new TimerHeap();
  private immediate: NodeJS.Immediate | undefined;
  get pending(): number {
    return this.heap.size;
  }
  schedule(delayUs: number, fire: () => void): void {
    this.heap.push({ dueUs: nowUs() + delayUs, fire });
    if (!this.immediate) this.immediate = setImmediate(this.poll);
  }
  fireDue(): void {}
  private poll = (): void => {
    this.immediate = undefined;
    const now = nowUs();
    while (this.heap.size > 0 && this.heap.peek()!.dueUs <= now) this.heap.pop()!.fire();
    if (this.heap.size > 0) this.immediate = setImmediate(this.poll);
  };
  async close(): Promise<void> {
    if (this.immediate) clearImmediate(this.immediate);
  }
}

/**
 * Measures how late the worker's wake-up reaches the main thread (µs) with no
 * compensation: `samples` sequential timers of `delayUs`. Returns the sorted lateness.
 */
export async function measureWakeLatenessUs(timer: PreciseTimer, samples = 200, delayUs = 1000): Promise<number[]> {
  const lateness: number[] = [];
  for (let i = 0; i < samples; i++) {
    await new Promise<void>((resolve) => {
      const due = nowUs() + delayUs;
      timer.schedule(delayUs, () => {
        lateness.push(nowUs() - due);
        resolve();
      });
    });
  }
  return lateness.sort((a, b) => a - b);
}

/** Which percentile of the measured lateness is subtracted from every wake-up time. */
export const COMPENSATION_PERCENTILE = 0.2;

export async function createPreciseTimer(options: PreciseTimerOptions = {}): Promise<PreciseTimer> {
  const mode = options.mode ?? 'worker';
  if (mode === 'timer') return new SetTimeoutTimer();
  if (mode === 'spin') return new SpinTimer();
  const timer = new WorkerTimer(options.compensationUs ?? 0);
  await timer.ready();
  if (options.realtime !== false) timer.makeRealtime();
  if (options.compensationUs === undefined && options.calibrate !== false) {
    await measureWakeLatenessUs(timer, 50); // let the JIT and the thread settle
    const lateness = await measureWakeLatenessUs(timer, 300);
    // A low percentile: most wake-ups then come late by a few µs of jitter, the few early
    // ones are waited out in a short spin (CPU), none is later than it had to be.
    timer.compensationUs = Math.max(0, lateness[Math.floor(lateness.length * COMPENSATION_PERCENTILE)]);
  }
  return timer;
}
