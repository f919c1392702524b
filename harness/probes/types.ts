// The probes' figures as the rest of meshbench sees them: per component (e.g.
// "server-1/app"), latencies as percentiles in µs, CPU in seconds, memory in bytes.
// A figure is present only when its probe ran; `failed` says why one did not.

export const PROBE_NAMES = ['dwell', 'runq', 'cpu', 'connect', 'memory'] as const;
export type ProbeName = (typeof PROBE_NAMES)[number];

export interface ProbeOptions {
  probes: readonly ProbeName[];
  /** How often the memory probe samples RSS; default 200 ms. */
  memIntervalMs?: number;
  /** Path of the loader binary; default `bpf/build/loader` of this checkout. */
  loaderPath?: string;
  /**
   * Sampling: the dwell probe's hooks are attached for 1/N of every second (none of their
   * cost the rest of the time); default DEFAULT_SAMPLE_EVERY. 1: always attached.
   */
  sampleEvery?: number;
  /** Largest number of components this session will track; default 511. */
  maxComponents?: number;
  /** Per-command answer timeout; default 10 s. */
  commandTimeoutMs?: number;
}

/** What to watch as one component: processes by tgid (all their threads), and/or every
 * task in a cgroup v2 directory (processes started later included). */
export interface TrackedComponent {
  /** e.g. `server-1/app`, `client-1/sidecar`, `node/proxy`. */
  id: string;
  tgids?: readonly number[];
  /** A cgroup v2 directory, e.g. `/sys/fs/cgroup/unified/meshbench/<run>/<pod>`. */
  cgroupDir?: string;
  /** Its requests are the ones whole-request tuples follow (the client app): see MedianRequestFigures. */
  origin?: boolean;
}

/** Sparse histogram as the loader sends it: [slot, count] pairs, slots as in bpf/probes.h. */
export type HistogramSlots = Array<[slot: number, count: number]>;

/** A latency distribution. Percentiles are 0 when count is 0. */
export interface LatencyFigures {
  count: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
  /** The raw log-linear histogram, for re-analysis (e.g. merging repeats). */
  histogram: HistogramSlots;
}

export interface ConnectFigures extends LatencyFigures {
  /** `count`: connects that reached ESTABLISHED. */
  failed: number;
  /** Connections this component accepted (accept/accept4 returning a socket). */
  accepted: number;
}

export interface MemoryFigures {
  /** Highest sampled RSS (sum over the component's processes at one sample). */
  peakBytes: number;
  meanBytes: number;
  samples: number;
}

/**
 * The dwell probe's figures at one component's sockets (bpf/dwell.bpf.c), timed on the
 * first segment of each message (a request or a response), each paired on one socket:
 * exact whatever the number of connections.
 */
export interface PathFigures {
  /** Passive (accepted) sockets: a request's ingress → its response's egress. */
  served?: LatencyFigures;
  /** Active (connected) sockets: a request's egress → its response's ingress. */
  waited?: LatencyFigures;
  /** A request's ingress → the first read that returns it: wake-up, run-queue wait, recv. */
  wakeReq?: LatencyFigures;
  /** The same for a response (active sockets). */
  wakeResp?: LatencyFigures;
  /** A request's send() entry → its egress: the TCP/IP send path, netfilter OUTPUT (active sockets). */
  txReq?: LatencyFigures;
  /** The same for a response (passive sockets). */
  txResp?: LatencyFigures;
}

export const PATH_KINDS = ['served', 'waited', 'wakeReq', 'wakeResp', 'txReq', 'txResp'] as const;
export type PathKind = (typeof PATH_KINDS)[number];

/** A hop between two components: a message's first segment from egress at `from` to ingress at `to`. */
export interface HopFigures {
  from: string;
  to: string;
  transit: LatencyFigures;
}

/** Run-queue totals of a component's threads from the kernel's own accounting (/proc/<pid>/task/*\/schedstat). */
export interface RunQueueTotals {
  /** Time its threads were runnable but waiting for a CPU, over the window. */
  waitSeconds: number;
  /** Times its threads were switched in (the kernel's pcount). */
  timeslices: number;
  /** waitSeconds / timeslices, µs; undefined without a timeslice. */
  meanWaitUs?: number;
}

/** One CPU's time over the window, from /proc/stat (seconds). */
export interface CpuTimes {
  userSeconds: number;
  systemSeconds: number;
  softirqSeconds: number;
  irqSeconds: number;
  idleSeconds: number;
}

export interface ComponentProbeFigures {
  /** Socket receive → next socket send on the same thread (the cell's sockets only). */
  dwell?: LatencyFigures;
  /** The path figures at this component's sockets (dwell probe). */
  path?: PathFigures;
  /** Runnable → running, as a histogram: only from the legacy BPF runq probe (loader only). */
  runq?: LatencyFigures;
  /** Run-queue totals from schedstat (the runq probe as the harness runs it). */
  runqueue?: RunQueueTotals;
  /** Time on CPU (cgroup cpu.stat usage for a cgroup component, else schedstat of its threads). */
  cpuSeconds?: number;
  /** The user and kernel parts of cpuSeconds (cgroup cpu.stat; absent for tgid-only components). */
  userSeconds?: number;
  systemSeconds?: number;
  /** The softirq part of cpuSeconds: only from the legacy BPF cpu probe (loader only). */
  softirqSeconds?: number;
  connect?: ConnectFigures;
  memory?: MemoryFigures;
}

export interface ProbeFigures {
  /** Length of the measured window (since `start`), ms; 0 if start was never called. */
  windowMs: number;
  /** True for the figures `stop()` returns. */
  final: boolean;
  /** Probes that ran. */
  probes: ProbeName[];
  /** The dwell probe's figures are a sample of 1 in this many seconds' worth (1: all of them). */
  sampleEvery?: number;
  /** Probes that were asked for but could not be loaded or attached, with the reason. */
  failed: Partial<Record<ProbeName, string>>;
  components: Record<string, ComponentProbeFigures>;
  /** Hops between tracked components (dwell probe, after attachCgroup). */
  hops?: HopFigures[];
  /** Every CPU's user/system/softirq time over the window (/proc/stat), keyed by CPU number. */
  hostCpus?: Record<string, CpuTimes>;
  /**
   * Run time of the BPF programs of the data path itself attached to the cell's cgroup (the
   * eBPF socket LB), from bpf_stats over the window; absent when none is attached or
   * bpf_stats is off.
   */
  datapathBpf?: { programs: string[]; runTimeNs: number; runCount: number };
  /** Softirq time served while no tracked component was on the CPU (idle, ksoftirqd, others). */
  unattributedSoftirqSeconds?: number;
  /** Whole requests around the median (dwell probe, with an origin component tracked). */
  medianRequest?: MedianRequestFigures;
}

/**
 * The parts of whole requests around the median (dwell probe): every part timed between an
 * origin's send and its read of the response, for requests that were alone in the cell (no
 * other origin request in flight), kept per request; the `averaged` requests around the
 * median round trip are averaged part by part. Unlike the median of each part, these add up:
 * their sum is the band's mean round trip (origin send entry → its first read).
 */
export interface MedianRequestFigures {
  /** Requests followed whole and alone. */
  requests: number;
  /** How many of them were kept (a uniform sample beyond the loader's cap). */
  kept: number;
  /** How many around the median round trip were averaged (10 %, at least 20 or all). */
  averaged: number;
  /** The kept requests' median round trip, and the averaged ones' mean round trip, µs. */
  roundTripP50Us?: number;
  roundTripMeanUs?: number;
  /** Per component: each path kind's mean over the averaged requests, µs (0 where absent). */
  parts: Record<string, Partial<Record<PathKind, number>>>;
  hops: Array<{ from: string; to: string; us: number }>;
}

export interface ProbeSession {
  readonly probes: readonly ProbeName[];
  readonly failed: Partial<Record<ProbeName, string>>;
  /** The loader's pid (also its process group id). */
  readonly loaderPid: number;
  track(component: TrackedComponent): Promise<void>;
  /** Attaches the probes' cgroup programs (the dwell probe's packet hooks) to the cell's cgroup. */
  attachCgroup(dir: string): Promise<void>;
  /** Zeroes every counter and begins the measured window. */
  start(): Promise<void>;
  snapshot(): Promise<ProbeFigures>;
  /** Final figures; the loader exits and is reaped. */
  stop(): Promise<ProbeFigures>;
  /** Ends the loader without figures (error paths); safe to call at any time, twice. */
  kill(): Promise<void>;
}

export interface ProbeSupport {
  ok: boolean;
  why?: string;
}
