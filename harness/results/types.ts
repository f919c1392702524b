// result.json, schema `meshbench/result@1`: the run as data. Reports are computed from it alone.
import type { Cell, Scenario, MeshName, Protocol, Security } from '../scenario/types.ts';
import type { ComponentRole } from '../mesh/types.ts';
import type { ComponentProbeFigures, ProbeName } from '../probes/types.ts';
import type { MeshComparison } from '../analysis/compare.ts';
import type { ScalingFit } from '../analysis/scaling.ts';
import type { ChainFit } from '../analysis/chain.ts';
import type { CellDecomposition, MeshDecomposition } from '../analysis/decomposition.ts';

export const RESULT_SCHEMA = 'meshbench/result@1';

export interface LatencySummaryUs {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  min: number;
  mean: number;
  /** Number of recorded latencies. */
  count: number;
}

export interface LoadOutcome {
  driver: string;
  /** Version of the driver that ran (e.g. "meshbench-native/1 nghttp2/1.52.0", "autocannon 8.0.0 node v20.19.0"). */
  driverVersion?: string;
  model: 'open' | 'closed';
  /** Asked rate (open model), requests/s over all services. */
  requestedRps?: number;
  /** Completed responses per second over the measured window. */
  achievedRps: number;
  /** Requests answered with a 2xx status in the measured window. */
  requests: number;
  non2xx: number;
  /** Socket errors and timeouts. */
  socketErrors: number;
  connections: number;
  measuredMs: number;
  /** Set when the achieved rate fell below 95 % of the asked one. */
  saturated: boolean;
  latencyUs: LatencySummaryUs;
  /** HDR histogram of latencies in µs, base64 (hdr-histogram-js encode), for re-analysis. */
  histogram?: string;
}

/** What ended a cell early: which component died, how, and what it said (issue 14). */
export interface CellFailure {
  /** One line: what went wrong. */
  message: string;
  /** The component that died, e.g. `server-1/sidecar` or `probe-loader`, when known. */
  component?: string;
  /** How it ended: its exit code or the signal that killed it. */
  exit?: { code: number | null; signal: string | null };
  /** The last lines it wrote to stderr. */
  stderrTail?: string;
}

export interface CellResult extends Cell {
  /**
   * `failed`: something died mid-cell (`failure` says what); what was measured is kept (the
   * driver's latency without the probes, and so on) but no analysis uses the cell. Absent:
   * complete (results of older versions).
   */
  status?: 'complete' | 'failed' | 'not-run';
  /** not-run: why (this host lacks what the mesh needs in the cell's security mode); nothing was measured. */
  notRunReason?: string;
  failure?: CellFailure;
  startedAt: string;
  finishedAt: string;
  load: LoadOutcome;
  /** The server app that answered in the server pods (scenario workload.server), and its version. */
  server?: { implementation: string; name: string; version: string };
  /** Where the requests went, as proven by counters (proxy stats, bpf rewrites). */
  path: Record<string, number>;
  /** CPU seconds used by each component during the measured window, from /proc. */
  cpuSeconds?: Record<string, number>;
  /** Per component (pod × role): where the time, CPU and memory went, from the eBPF probes. */
  components?: Record<string, ComponentResult>;
  /** Which probes ran in this cell, why any did not, and what they cost. */
  probes?: ProbeRunInfo;
  /** The idle window before the load (scenario `idle`): what the data path costs doing nothing. */
  idle?: IdleResult;
  /** Where a request's latency goes along its path (dwell probe): hops and residences, both directions. */
  decomposition?: CellDecomposition;
  notes: string[];
}

/** One component over a cell's idle window (harness/runner/idle.ts). */
export interface IdleComponentResult {
  role: ComponentRole;
  pod: string;
  pids: number[];
  /** On-CPU seconds over the window: the eBPF cpu probe where it ran, else /proc schedstat. */
  cpuSeconds?: number;
  /** Times its threads went to sleep and were woken again: voluntary context switches (/proc). */
  wakeups?: number;
  /** RSS: the eBPF memory probe over the window, else one /proc VmRSS reading at its end (samples 1). */
  memory?: { peakBytes: number; meanBytes: number; samples: number };
}

export interface IdleResult {
  /** Length of the idle window. */
  durationMs: number;
  cpuSource: 'probes' | 'proc';
  memorySource: 'probes' | 'proc';
  /** The data path's and the apps' processes; the load driver has not started yet. */
  components: Record<string, IdleComponentResult>;
}

export interface ComponentResult extends ComponentProbeFigures {
  role: ComponentRole;
  pod: string;
  pids: number[];
}

export interface ProbeRunInfo {
  ran: ProbeName[];
  failed: Partial<Record<ProbeName, string>>;
  /**
   * The probes' own cost over the measured window: CPU time spent running their BPF
   * programs (kernel bpf_stats run_time_ns) and by the loader process (/proc).
   */
  cost?: {
    bpfSeconds: number;
    bpfInvocations: number;
    loaderCpuSeconds: number;
    /** The hooks' framework cost, bpf_stats does not count it: invocations × the ns per invocation bench:probes measured on/off. */
    frameworkSeconds?: number;
    frameworkNsPerInvocation?: number;
    frameworkMeasuredAt?: string;
  };
}

export interface Environment {
  hostname: string;
  kernel: string;
  cpuModel: string;
  cores: number;
  governor?: string;
  node: string;
  proxy: { name: string; version: string };
  tools: Record<string, string>;
  /** Which CPUs the driver and the system under test were pinned to. */
  placement: { driverCpus: string; podCpus: string };
}

export interface MeshOverhead {
  mesh: MeshName;
  protocol: Protocol;
  /** Present for mtls (absent: plaintext); every mode against the same baseline cells. */
  security?: Security;
  services: number;
  /** Median over repeats of the mesh's figure minus the baseline's, µs and %. */
  p50DeltaUs: number;
  p50DeltaPct: number;
  p99DeltaUs: number;
  p99DeltaPct: number;
  rpsDeltaPct: number;
}

export interface RunResult {
  schema: typeof RESULT_SCHEMA;
  meshbench: string;
  runId: string;
  startedAt: string;
  finishedAt?: string;
  status: 'complete' | 'failed' | 'interrupted';
  environment: Environment;
  scenario: Scenario;
  cells: CellResult[];
  /**
   * The sessions that ran the cells: one for a run that went through, one more per
   * `meshbench run --resume` (each cell's startedAt says when it ran).
   */
  sessions?: RunSession[];
  analysis: {
    overhead: MeshOverhead[];
    /** Per mesh vs baseline, every figure with its 95 % bootstrap CI and permutation p (NaN → null). */
    comparisons?: MeshComparison[];
    /** Per mesh: memory, CPU and latency against the services on the node, as lines (NaN → null). */
    scaling?: ScalingFit[];
    /** Per mesh: latency, CPU and memory against the services a request crosses (scenario chain), as lines (NaN → null). */
    chain?: ChainFit[];
    /** Per mesh: the request's latency split along its path, and its Δ vs the baseline split the same way. */
    decomposition?: MeshDecomposition[];
  };
  notes: string[];
}

export interface RunSession {
  startedAt: string;
  finishedAt?: string;
  /** The meshbench process that ran it. */
  pid: number;
  /** Ids of the cells this session ran (complete or failed). */
  cells: string[];
  /** How the session ended. */
  status?: RunResult['status'];
}
