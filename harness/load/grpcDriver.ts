// The gRPC load driver: unary or server-streaming calls of meshbench.v1.Bench over h2c, on
// its own HTTP/2 client (grpcH2.ts), closed or open model, latencies in µs into the same HDR
// histograms as the HTTP driver, and the grpc-status of every call checked.
//
// - A call is OK when the response is :status 200, grpc-status 0 and carried exactly the
//   replies asked for (1 for unary, messagesPerStream for a stream). Anything else it ends
//   with (a non-OK grpc-status, a non-200 :status, a wrong reply count) is an error response:
//   it counts in `non2xx` (the LoadOutcome's count of error answers) and by status in
//   `grpc.statuses`. A call that ends without an answer (RST_STREAM, connection lost,
//   timeout) counts in `socketErrors`.
// - The latency of a call runs to its END_STREAM (a stream's last reply and trailers), from
//   when it was written (closed model) or from its intended send time (open model, as the
//   HTTP driver: no coordinated omission).
// - The measured window and the accounting are the HTTP driver's (autocannon.ts): a call
//   counts when it completes within [start + warm-up, + duration); after the window no call
//   is written and those in flight are awaited (≤ grace), so that
//     sent = responses + lost,  responses = warmupResponses + requests + non2xx + lateResponses.
// - Connections: spec.connections HTTP/2 connections, connection j to target j mod T (with
//   weights: each target's share of them, schedule.ts connectionTargets), each carrying at
//   most streamsPerConnection calls at once. Open model: call i goes to target i mod T (with
//   weights: the i-th slot of the weighted cycle). A lost connection is re-opened after
//   100 ms until the window closes.
import {
  GRPC_STATUS, STREAM_PATH, UNARY_PATH, encodeBenchRequest, grpcFrame,
} from '../workload/grpcMessages.ts';
import { H2ClientConnection, H2RequestTemplate, H2_CONNECTION_LOST, type H2StreamHandler } from './grpcH2.ts';
import { encodeHeaderBlock } from './grpcHpack.ts';
import type { GrpcLoadSpec, GrpcMethod } from './grpcSpec.ts';
import { createLatencyHistogram, recordLatencyUs } from './histogram.ts';
import { driverOutcome, sleepUntil, waitForDrain } from './outcome.ts';
import {
  connectionTargets, intendedSendMs, nextPollDelayMs, planOpenSchedule, targetOfRequest, weightedCycle, type OpenSchedule,
  type TargetCycle,
} from './schedule.ts';
import { DEFAULT_TIMEOUT_MS } from './spec.ts';
import type { DriverOutcome, LoadTarget } from './types.ts';

export const GRPC_DRIVER_NAME = 'grpc';
export const GRPC_USER_AGENT = 'meshbench-grpc/1';

/** Longest wait for in-flight calls after the window, whatever the timeout. */
const MAX_GRACE_MS = 5_000;
/** Open model: longest wait for connections before the schedule starts. */
const CONNECT_WAIT_MS = 5_000;
const RECONNECT_DELAY_MS = 100;
const TIMEOUT_SWEEP_MS = 50;

/** What the gRPC driver adds to a DriverOutcome. */
export interface GrpcFigures {
  method: GrpcMethod;
  messagesPerStream: number;
  streamsPerConnection: number;
  /**
   * Answered calls of the measured window by how they ended: "0" OK, other grpc-status
   * codes, "http-NNN" for a non-200 :status without grpc-status, "replies-N" for grpc-status
   * 0 with a wrong reply count.
   */
  statuses: Record<string, number>;
  /** Replies (gRPC messages) received in the measured window. */
  replies: number;
  /** HTTP/2 connections opened over the run (re-opens included). */
  connectionsOpened: number;
  /** Calls reset by the server (RST_STREAM) or refused by a GOAWAY, whole run. */
  resets: number;
  /** Calls cancelled after timeoutMs without an answer, whole run. */
  timeouts: number;
}

export interface GrpcDriverOutcome extends DriverOutcome {
  grpc: GrpcFigures;
}

export interface GrpcRunOptions {
  signal?: AbortSignal;
  /** Called when the measured window opens (after the warm-up), within ~1 ms. */
  onMeasureStart?: () => void;
}

/** The HTTP/2 request of one call to `target`, built once. */
export function grpcRequestTemplate(target: LoadTarget, spec: GrpcLoadSpec['grpc']): H2RequestTemplate {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const headerBlock = encodeHeaderBlock([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', spec.method === 'unary' ? UNARY_PATH : STREAM_PATH],
    [':authority', `${host}:${target.port}`],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['user-agent', GRPC_USER_AGENT],
  ]);
  const message = encodeBenchRequest({
    messages: spec.method === 'stream' ? spec.messagesPerStream : 0,
    status: spec.answerStatus ?? GRPC_STATUS.OK,
  });
  return new H2RequestTemplate(headerBlock, grpcFrame(message));
}

/** Runs one load in this process (grpcDriverMain.ts runs it in a process of its own). */
export async function runGrpcLoad(spec: GrpcLoadSpec, options: GrpcRunOptions = {}): Promise<GrpcDriverOutcome> {
  return new GrpcRun(spec).execute(options.signal, options.onMeasureStart);
}

interface Connection {
  h2: H2ClientConnection | undefined;
  target: number;
  /** Calls in flight on this connection, in send order (the timeout sweep reads the oldest first). */
  calls: Map<number, Call>;
  reconnectTimer: NodeJS.Timeout | undefined;
}

/** One call: its timing and what came back; it is the stream's handler. */
class Call implements H2StreamHandler {
  streamId = 0;
  httpStatus = 0;
  grpcStatus = -1;
  replies = 0;
  /** Message framing state: bytes left of the current message, prefix bytes seen. */
  private messageLeft = 0;
  private prefixSeen = 0;
  private length = 0;

  constructor(
    private readonly run: GrpcRun,
    readonly connection: Connection,
    /** Latency origin: written (closed) or intended (open), performance.now() ms. */
    readonly originMs: number,
  ) {}

  onHeaders(fields: ReadonlyArray<readonly [string, string]>, endStream: boolean): void {
    for (const [name, value] of fields) {
      if (name === ':status') this.httpStatus = Number(value);
      else if (name === 'grpc-status') this.grpcStatus = Number(value);
    }
    if (endStream) this.run.complete(this);
  }

  onData(chunk: Buffer, endStream: boolean): void {
    // Counts complete gRPC messages: 5-byte prefix (flag, u32 length), then the body.
    let offset = 0;
    while (offset < chunk.length) {
      if (this.messageLeft > 0) {
        const take = Math.min(this.messageLeft, chunk.length - offset);
        this.messageLeft -= take;
        offset += take;
        if (this.messageLeft === 0) this.replies++;
        continue;
      }
      if (this.prefixSeen > 0) this.length = this.length * 256 + chunk[offset]!;
      offset++;
      if (++this.prefixSeen === 5) {
        this.prefixSeen = 0;
        this.messageLeft = this.length;
        this.length = 0;
        if (this.messageLeft === 0) this.replies++;
      }
    }
    if (endStream) this.run.complete(this);
  }

  onReset(code: number): void {
    this.run.lose(this, code);
  }
}

class GrpcRun {
  private readonly timeoutMs: number;
  private readonly graceMs: number;
  private readonly targetCount: number;
  private readonly perConnection: number;
  private readonly expectedReplies: number;
  private readonly templates: H2RequestTemplate[];
  private readonly connections: Connection[] = [];
  private readonly byTarget: Connection[][];
  private readonly latency = createLatencyHistogram();
  private readonly schedulerLateness = createLatencyHistogram();

  private windowStartMs = Infinity;
  private windowEndMs = Infinity;
  private stopping = false;
  private finished = false;

  // accounting (whole run)
  private sent = 0;
  private responses = 0;
  private warmupResponses = 0;
  private lateResponses = 0;
  private lost = 0;
  private unsent = 0;
  private maxBacklog = 0;
  private inFlight = 0;
  private connectionsOpened = 0;
  private resets = 0;
  private timeouts = 0;
  // measured window
  private ok = 0;
  private notOk = 0;
  private windowCompletions = 0;
  private socketErrors = 0;
  private windowReplies = 0;
  private readonly statuses = new Map<string, number>();

  // open model
  private schedule: OpenSchedule | undefined;
  /** Weighted spread: which target each call index goes to; absent: index mod T. */
  private readonly cycle: TargetCycle | undefined;
  /** Per target: call indices due but not yet sent (oldest first, from `head`). */
  private backlog: Array<{ indices: number[]; head: number }> = [];
  private nextDue = 0;
  private sentIndices = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private pollImmediate: NodeJS.Immediate | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private onInFlightDrained: (() => void) | undefined;
  private cpuAtWindowStart: NodeJS.CpuUsage | undefined;
  private driverCpuMs: number | undefined;

  constructor(private readonly spec: GrpcLoadSpec) {
    this.timeoutMs = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.graceMs = Math.min(this.timeoutMs, MAX_GRACE_MS);
    this.targetCount = spec.targets.length;
    this.perConnection = spec.grpc.streamsPerConnection;
    this.expectedReplies = spec.grpc.method === 'unary' ? 1 : spec.grpc.messagesPerStream;
    this.templates = spec.targets.map((t) => grpcRequestTemplate(t, spec.grpc));
    this.byTarget = spec.targets.map(() => []);
    this.cycle = spec.weights ? weightedCycle(spec.weights) : undefined;
  }

  private get open(): boolean {
    return this.spec.model === 'open';
  }

  async execute(signal?: AbortSignal, onMeasureStart?: () => void): Promise<GrpcDriverOutcome> {
    if (signal?.aborted) throw new Error('load aborted before it started');
    if (this.open && !(this.spec.rate! > 0)) throw new RangeError('open model needs a positive rate');
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      this.stopSending();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let measureTimer: NodeJS.Timeout | undefined;
    try {
      if (this.open) this.backlog = this.spec.targets.map(() => ({ indices: [], head: 0 }));
      const createdMs = performance.now();
      for (const target of connectionTargets(this.spec.connections, this.targetCount, this.spec.weights)) {
        const connection: Connection = { h2: undefined, target, calls: new Map(), reconnectTimer: undefined };
        this.connections.push(connection);
        this.byTarget[connection.target]!.push(connection);
        this.connect(connection);
      }
      let startMs = createdMs;
      if (this.open) {
        await this.waitForConnections();
        if (aborted) throw new Error('load aborted');
        startMs = performance.now();
        this.schedule = planOpenSchedule(startMs, this.spec.rate!, this.spec.warmupMs, this.spec.durationMs);
      }
      this.windowStartMs = startMs + this.spec.warmupMs;
      this.windowEndMs = this.windowStartMs + this.spec.durationMs;
      measureTimer = setTimeout(() => {
        this.cpuAtWindowStart = process.cpuUsage();
        onMeasureStart?.();
      }, Math.max(0, this.windowStartMs - performance.now()));
      this.sweepTimer = setInterval(this.sweepTimeouts, TIMEOUT_SWEEP_MS);
      if (this.open) this.poll();
      else for (const c of this.connections) this.fill(c);
      await sleepUntil(this.windowEndMs, signal);
      if (this.cpuAtWindowStart) {
        const cpu = process.cpuUsage(this.cpuAtWindowStart);
        this.driverCpuMs = Math.round((cpu.user + cpu.system) / 100) / 10;
      }
      if (this.open && !this.stopping) {
        // The poll loop may be between polls: let it make the window's last calls.
        this.clearPoll();
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

  // ---- connections ----

  private connect(connection: Connection): void {
    connection.reconnectTimer = undefined;
    if (this.finished || this.stopping) return;
    const target = this.spec.targets[connection.target]!;
    this.connectionsOpened++;
    connection.h2 = new H2ClientConnection(target.host, target.port, {
      onReady: () => this.fill(connection),
      onWritable: () => this.fill(connection),
      onClose: (error) => {
        connection.h2 = undefined;
        // A connection that fails or drops in the window is a socket error even with no call on it.
        if (error && performance.now() >= this.windowStartMs && !this.finished) this.socketErrors++;
        if (!this.finished && !this.stopping) connection.reconnectTimer = setTimeout(() => this.connect(connection), RECONNECT_DELAY_MS);
      },
    });
  }

  private canSend(connection: Connection): boolean {
    const h2 = connection.h2;
    return h2 !== undefined && connection.calls.size < this.perConnection && h2.canSend(this.templates[connection.target]!);
  }

  /** Writes what this connection may carry now: closed model up to its limit, open model the target's backlog. */
  private fill(connection: Connection): void {
    if (this.stopping) return;
    if (!this.open) {
      while (this.canSend(connection)) this.send(connection, performance.now());
      return;
    }
    const queue = this.backlog[connection.target]!;
    while (queue.head < queue.indices.length && this.canSend(connection)) {
      this.sendScheduled(connection, queue.indices[queue.head++]!);
    }
    if (queue.head === queue.indices.length) {
      queue.indices.length = 0;
      queue.head = 0;
    }
  }

  private send(connection: Connection, originMs: number): void {
    const call = new Call(this, connection, originMs);
    call.streamId = connection.h2!.send(this.templates[connection.target]!, call);
    connection.calls.set(call.streamId, call);
    this.inFlight++;
    this.sent++;
  }

  private sendScheduled(connection: Connection, index: number): void {
    this.sentIndices++;
    this.send(connection, intendedSendMs(this.schedule!, index));
  }

  // ---- calls ending ----

  complete(call: Call): void {
    const nowMs = performance.now();
    call.connection.calls.delete(call.streamId);
    this.inFlight--;
    this.responses++;
    if (nowMs < this.windowStartMs) {
      this.warmupResponses++;
    } else if (nowMs < this.windowEndMs) {
      this.windowCompletions++;
      this.windowReplies += call.replies;
      recordLatencyUs(this.latency, (nowMs - call.originMs) * 1000);
      const outcome = this.classify(call);
      this.statuses.set(outcome, (this.statuses.get(outcome) ?? 0) + 1);
      if (outcome === '0') this.ok++;
      else this.notOk++;
    } else {
      this.lateResponses++;
    }
    if (this.stopping) this.checkDrained();
    // The stream's slot is free already: the connection's onWritable refills it.
  }

  private classify(call: Call): string {
    if (call.grpcStatus === GRPC_STATUS.OK) {
      if (call.httpStatus !== 200) return `http-${call.httpStatus}`;
      return call.replies === this.expectedReplies ? '0' : `replies-${call.replies}`;
    }
    if (call.grpcStatus >= 0) return String(call.grpcStatus);
    return `http-${call.httpStatus}`;
  }

  lose(call: Call, code: number): void {
    call.connection.calls.delete(call.streamId);
    this.inFlight--;
    this.lost++;
    if (code !== H2_CONNECTION_LOST) this.resets++;
    if (performance.now() >= this.windowStartMs && !this.finished) this.socketErrors++;
    this.checkDrained();
  }

  private readonly sweepTimeouts = (): void => {
    const oldestAllowed = performance.now() - this.timeoutMs;
    for (const connection of this.connections) {
      for (const call of connection.calls.values()) {
        // Sent-order map: the first call younger than the limit ends the scan. (Open model:
        // the origin is the intended time, so a backlogged call times out sooner; a call
        // that waited `timeoutMs` to be sent is as lost as one that waited for its answer.)
        if (call.originMs > oldestAllowed) break;
        this.timeouts++;
        this.lose(call, H2_CONNECTION_LOST);
        connection.h2?.cancel(call.streamId);
      }
    }
  };

  // ---- open model ----

  /** Open-model scheduler: makes due calls and writes them where a connection has room. */
  private readonly poll = (): void => {
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
      const queue = this.backlog[k]!;
      // A target with a backlog sends its oldest first: a due call goes out now only when
      // its target has no backlog and a connection has room; else it joins the backlog.
      const connection = queue.head === queue.indices.length ? this.roomFor(k) : undefined;
      if (connection === undefined) {
        queue.indices.push(index);
        continue;
      }
      if (index >= schedule.firstMeasured) recordLatencyUs(this.schedulerLateness, (performance.now() - intended) * 1000);
      this.sendScheduled(connection, index);
    }
    const backlog = this.nextDue - this.sentIndices;
    if (backlog > this.maxBacklog) this.maxBacklog = backlog;
    if (this.nextDue >= schedule.total) return;
    const next = nextPollDelayMs(intendedSendMs(schedule, this.nextDue), performance.now());
    if (next === 'immediate') this.pollImmediate = setImmediate(this.poll);
    else this.pollTimer = setTimeout(this.poll, next);
  };

  /** The connection of target k with the fewest calls in flight that can take one more. */
  private roomFor(k: number): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.byTarget[k]!) {
      if ((best === undefined || c.calls.size < best.calls.size) && this.canSend(c)) best = c;
    }
    return best;
  }

  private clearPoll(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.pollImmediate) clearImmediate(this.pollImmediate);
    this.pollTimer = undefined;
    this.pollImmediate = undefined;
  }

  // ---- stopping ----

  private stopSending(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.clearPoll();
    if (this.schedule) this.unsent = this.schedule.total - this.sentIndices;
  }

  private checkDrained(): void {
    if (this.inFlight <= 0 && this.onInFlightDrained) this.onInFlightDrained();
  }

  private waitForInFlight(graceMs: number): Promise<void> {
    return waitForDrain(() => this.inFlight, graceMs, (cb) => (this.onInFlightDrained = cb));
  }

  private waitForConnections(): Promise<void> {
    return new Promise((resolve) => {
      const deadline = performance.now() + CONNECT_WAIT_MS;
      const check = (): void => {
        // Ready (SETTINGS seen) or failed once: a refused connection counts later as errors.
        const waiting = this.connections.some((c) => c.h2 !== undefined && !c.h2.isReady);
        if (!waiting || performance.now() >= deadline) resolve();
        else setTimeout(check, 5);
      };
      check();
    });
  }

  private destroyAll(): void {
    this.finished = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const c of this.connections) {
      if (c.reconnectTimer) clearTimeout(c.reconnectTimer);
      c.h2?.close(); // calls still in flight are reset: lost
    }
  }

  private outcome(): GrpcDriverOutcome {
    return {
      ...driverOutcome(GRPC_DRIVER_NAME, this.spec, {
        sent: this.sent,
        responses: this.responses,
        warmupResponses: this.warmupResponses,
        lateResponses: this.lateResponses,
        lost: this.lost,
        unsent: this.unsent,
        maxBacklog: this.maxBacklog,
        driverCpuMs: this.driverCpuMs,
        ok: this.ok,
        notOk: this.notOk,
        windowCompletions: this.windowCompletions,
        socketErrors: this.socketErrors,
      }, this.latency, this.schedulerLateness),
      grpc: {
        method: this.spec.grpc.method,
        messagesPerStream: this.spec.grpc.messagesPerStream,
        streamsPerConnection: this.perConnection,
        statuses: Object.fromEntries(this.statuses),
        replies: this.windowReplies,
        connectionsOpened: this.connectionsOpened,
        resets: this.resets,
        timeouts: this.timeouts,
      },
    };
  }
}
