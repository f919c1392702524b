import type { ProbeName } from '../probes/types.ts';

// The scenario as the program sees it after validation (schema.ts produces exactly this).
// Durations are normalised to microseconds/milliseconds; units are in the names.

export const MESH_NAMES = ['baseline', 'sidecar', 'ebpf', 'ebpf-l4', 'ambient', 'waypoint'] as const;
export type MeshName = (typeof MESH_NAMES)[number];

/**
 * What the mesh's own legs carry: `plaintext`, or `mtls` (mutual TLS between the mesh's
 * proxies with per-workload certificates from a CA made for the run; node-to-node encryption
 * for the eBPF meshes where the kernel has it). Each mode is a cell of its own.
 */
export const SECURITY_MODES = ['plaintext', 'mtls'] as const;
export type Security = (typeof SECURITY_MODES)[number];

export const PROTOCOLS = ['http1', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** gRPC calls: unary, or server-streaming with a number of replies per call. */
export const GRPC_METHODS = ['unary', 'stream'] as const;
export type GrpcMethod = (typeof GRPC_METHODS)[number];

export interface GrpcSettings {
  method: GrpcMethod;
  /** Stream: replies per call (the call's latency runs to the last). 1 for unary. */
  messagesPerStream: number;
  /** Calls in flight at most on one HTTP/2 connection (closed model: always this many). */
  streamsPerConnection: number;
}

/** Bounds of the gRPC settings, for the schema and the gRPC driver's own check. */
export const GRPC_MESSAGES_PER_STREAM_MAX = 10_000;
/** HAProxy's (and most servers') default SETTINGS_MAX_CONCURRENT_STREAMS. */
export const GRPC_STREAMS_PER_CONNECTION_MAX = 100;

export type LoadModel = 'open' | 'closed';

/**
 * How the load is spread over the services: `even` (the same share each) or `hot` (one
 * service takes `hotShare` of it, the others share the rest: a node where one service is
 * busy while the others idle).
 */
export const LOAD_SPREADS = ['even', 'hot'] as const;
export type LoadSpread = (typeof LOAD_SPREADS)[number];
/** Share of the traffic the hot service gets when the scenario names none. */
export const DEFAULT_HOT_SHARE = 0.9;

/** Where a run happens: network namespaces on this host, kind clusters, or an existing cluster. */
export const PLATFORMS = ['local', 'kind', 'kubernetes'] as const;
export type PlatformName = (typeof PLATFORMS)[number];

/** Whether the client and the servers of a cell share a node or sit on two different ones. */
export const PLACEMENTS = ['same-node', 'cross-node'] as const;
export type Placement = (typeof PLACEMENTS)[number];

/** kind cluster shapes that kind-configs/ defines: one node, or a control plane + 2 workers. */
export const KIND_NODE_COUNTS = [1, 3] as const;
export type KindNodeCount = (typeof KIND_NODE_COUNTS)[number];

/** Settings of the kind and kubernetes platforms (absent for local). */
export interface ClusterSettings {
  /** kubeconfig context of an existing cluster (platform kubernetes; never implied). */
  context?: string;
  /**
   * Image with the workload server, load driver and probe loader. kind: built from the
   * Dockerfile and loaded into the cluster when absent; kubernetes: required, pulled by the cluster.
   */
  image?: string;
  /** platform kind: which cluster shape, an own kind config file, an own node image. */
  kind?: { nodes: KindNodeCount; config?: string; nodeImage?: string };
  placement: Placement;
  /** Versions asked for instead of the pinned ones (kind), or expected on the cluster (kubernetes). */
  versions: { istio?: string; cilium?: string };
}

/** The program in the server pods: the native server (C, the default on local) or the Node servers. */
export const WORKLOAD_SERVERS = ['native', 'node'] as const;
export type WorkloadServerName = (typeof WORKLOAD_SERVERS)[number];

export interface Workload {
  /** Size of each response body. */
  responseBytes: number;
  /** Server-side added latency per request. */
  delayUs: number;
  /** Which server app runs (harness/workload/servers.ts); absent: the default (native). */
  server?: WorkloadServerName;
}

export interface LoadSettings {
  model: LoadModel;
  /** Requests per second over all services (open model only). */
  rate?: number;
  /** Connections from the client pod, spread over the services. */
  connections: number;
  durationMs: number;
  warmupMs: number;
  /** Load driver of every cell (harness/load DRIVER_NAMES): native (default), autocannon, wrk (HTTP/1.1 closed only). */
  driver: 'native' | 'autocannon' | 'wrk';
  /** Absent: even. Present (with hotShare) only for `hot`. */
  spread?: LoadSpread;
  /** spread hot: the share of requests (open model) or connections (closed) service 1 gets, in (0, 1]. */
  hotShare?: number;
}

export interface Scenario {
  name: string;
  platform: PlatformName;
  meshes: MeshName[];
  protocols: Protocol[];
  /** Security modes, one cell group each (absent: plaintext only). */
  security?: Security[];
  /** Services (server pods, each behind its own VIP) per node, one cell group each. */
  services: number[];
  /**
   * Chain lengths, one cell group each: a request enters service 1, whose server app calls
   * service 2 through the mesh before answering, and so on (the delay at the last). Each of
   * the `services` entry services heads a chain of its own. Absent: [1] (no chain).
   */
  chain?: number[];
  workload: Workload;
  load: LoadSettings;
  /** The gRPC calls of grpc cells; present exactly when protocols include grpc. */
  grpc?: GrpcSettings;
  repeats: number;
  /** eBPF probes to run in every cell (default all; [] for none). */
  probes: ProbeName[];
  /**
   * Idle window of every cell, ms: after bring-up and before any load, what each data path
   * costs while nothing happens (memory, CPU, wake-ups). Absent: no idle window.
   */
  idleMs?: number;
  /** Present exactly when platform is kind or kubernetes. */
  cluster?: ClusterSettings;
  /**
   * Local platform only: two nodes joined by a wire (scenario `nodes: 2`) and where the pods
   * go on them (`placement`). Absent: one node.
   */
  topology?: LocalTopology;
}

/**
 * Two local nodes. same-node: every pod on the first (the second idles, its node proxy
 * too); cross-node: the client on the first, each service on the other node than its
 * caller's (hop 1 on the second, hop 2 on the first, …), so every call crosses the wire.
 */
export interface LocalTopology {
  nodes: 2;
  placement: Placement;
}

/** One measurement: a mesh × protocol × security × services combination in one repeat. */
export interface Cell {
  /** Stable id, e.g. `sidecar-http1-s10-r2`. */
  id: string;
  mesh: MeshName;
  protocol: Protocol;
  /** Absent: plaintext (cells of older results). */
  security?: Security;
  services: number;
  /** Services a request crosses, the entry one included (absent: 1). */
  chain?: number;
  /** 1-based repeat number. */
  repeat: number;
  /** Position in the run's interleaved order (0-based). */
  index: number;
}
/** The no-mesh reference every other data path is compared with. */
export const REFERENCE_MESH: MeshName = 'baseline';
