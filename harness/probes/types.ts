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

export interface ComponentProbeFigures {
  /** Socket receive → next socket send on the same thread. */
  dwell?: LatencyFigures;
  /** Runnable → running. */
  runq?: LatencyFigures;
  /** Time on CPU, including the softirqs served while the component was on CPU. */
  cpuSeconds?: number;
  /** The softirq part of cpuSeconds. */
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
  /** Probes that were asked for but could not be loaded or attached, with the reason. */
  failed: Partial<Record<ProbeName, string>>;
  components: Record<string, ComponentProbeFigures>;
  /** Softirq time served while no tracked component was on the CPU (idle, ksoftirqd, others). */
  unattributedSoftirqSeconds?: number;
}

export interface ProbeSession {
  readonly probes: readonly ProbeName[];
  readonly failed: Partial<Record<ProbeName, string>>;
  /** The loader's pid (also its process group id). */
  readonly loaderPid: number;
  track(component: TrackedComponent): Promise<void>;
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
