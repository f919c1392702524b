// One module per data path (harness/mesh/<name>.ts, registered in harness/mesh/index.ts):
// its name, how reports describe and colour it, what it requires of a platform, its local
// implementation (Mesh: installs its node-wide parts, attaches its per-pod parts, says which
// processes play which role, proves its path with counters) and its Kubernetes part
// (KubeMesh: namespace labels, objects, watched containers, path counters).
import type { MeshName, Security } from '../scenario/types.ts';
import type { LocalCluster, Pod } from '../platform/local/cluster.ts';
import type { Manifest } from '../platform/kubernetes/manifests.ts';
import type { ClusterFlavour } from '../platform/kubernetes/names.ts';
import type { Proxy } from '../proxy/types.ts';
import type { CellPki } from './tls.ts';

/** A Kubernetes-style service: a VIP:port in 198.19/16 in front of server pods. */
export interface Service {
  name: string;
  /** 1-based. */
  index: number;
  vip: string;
  port: number;
  /** The port the server app listens on in its pod. */
  targetPort: number;
  endpoints: Pod[];
}

export type ComponentRole = 'client-app' | 'client-sidecar' | 'server-sidecar' | 'server-app' | 'node-proxy' | 'waypoint';

/** Something the probes and the CPU accounting watch: a process in a pod, by role. */
export interface Component {
  /** `<pod>/<role>`, e.g. `server-3/server-sidecar`, `node/node-proxy`. */
  id: string;
  role: ComponentRole;
  pod: string;
  pid: number;
  cgroupV2: string;
}

export interface MeshContext {
  cluster: LocalCluster;
  proxy: Proxy;
  services: Service[];
  /** What the mesh's own legs carry (absent: plaintext). */
  security?: Security;
  /** Where mtls certificates come from (absent: the run's CA, harness/mesh/tls.ts). */
  pki?: CellPki;
}

export interface Mesh {
  readonly name: string;
  /** Human description of the request path, for reports. */
  readonly path: string;
  /** Node-wide parts: iptables service rules, the node proxy, bpf programs. */
  install(ctx: MeshContext): Promise<void>;
  /** Per-pod parts: a sidecar and its interception rules. Called for every pod after install. */
  attach(ctx: MeshContext, pod: Pod): Promise<void>;
  /** The mesh's own processes (proxies), by role. */
  components(): Component[];
  /** Counters that prove where requests went: proxy request counts, bpf rewrites, DNAT hits. */
  pathCounters(): Promise<Record<string, number>>;
}

/** Port a sidecar's outbound capture listener uses (as Istio's 15001). */
export const SIDECAR_OUTBOUND_PORT = 15001;
/** Port a sidecar's inbound capture listener uses (as Istio's 15006). */
export const SIDECAR_INBOUND_PORT = 15006;
/** The uid sidecar proxies run as; their own traffic is excluded from capture (as Istio's 1337). */
export const SIDECAR_UID = 1337;
/** The node proxy gives service n its own listener port, base + n (the VIP is lost at connect4). */
export const NODE_PROXY_PORT_BASE = 20000;

// ---------------------------------------------------------------------------------------
// The Kubernetes part of a mesh

export interface MeshManifestContext {
  namespace: string;
  /** Labels every object of the cell carries (run, cell, managed-by). */
  labels: Record<string, string>;
  /** Pod label selecting the cell's server pods / client pod. */
  serverSelector: Record<string, string>;
  clientSelector: Record<string, string>;
  appPort: number;
  /** Services of the cell (server Deployments + Services, named by serviceName(1…n)). */
  services?: number;
}

/** A container the harness watches, found by pod label and container name. */
export interface MeshContainer {
  /** Component role, as on the local platform. */
  role: 'client-sidecar' | 'server-sidecar' | 'node-proxy' | 'waypoint';
  /** Where to find the pods: the cell's namespace, or a system namespace (node proxy). */
  namespace: 'cell' | string;
  labelSelector: string;
  container: string;
}

/** A Prometheus counter on some pods' metrics port whose increase over the cell proves the path. */
export interface PathCounter {
  /** Name in the cell's `path` record, e.g. `server-sidecar.requests`. */
  name: string;
  namespace: 'cell' | string;
  labelSelector: string;
  /** Only pods on the servers' node (node proxies). */
  serversNodeOnly: boolean;
  port: number;
  path: string;
  /** Metric name and label matchers; matching samples are summed. */
  metric: string;
  labels: Record<string, string>;
}

/** What an existing cluster was found to run (read-only check before a run). */
export interface ClusterMeshesFound {
  istio?: string;
  cilium?: string;
  ciliumConfig?: Record<string, string>;
  ciliumEnvoy: boolean;
}

export interface KubeMesh {
  readonly name: string;
  /** The request path, for reports. */
  readonly path: string;
  namespaceLabels(): Record<string, string>;
  objects(ctx: MeshManifestContext): Manifest[];
  containers(): MeshContainer[];
  pathCounters(): PathCounter[];
  /** A container every pod of the cell must have (an injected sidecar); the cell fails without it. */
  readonly injectedContainer?: string;
  /** The path counter that must be above zero for the path to be proven, and the note when it is not. */
  readonly provenBy?: { counter: string; note: string };
  /** Notes for the cell result: what the data path did (and did not) do. */
  notes(): string[];
  /** Labels a server Service gets (e.g. the waypoint it uses). */
  serviceLabels?(serviceName: string): Record<string, string>;
}

// ---------------------------------------------------------------------------------------
// The module

/** What the local platform must have for a mesh (doctor names the checks by these). */
export type LocalNeed = 'iptables' | 'proxy' | 'bpf-objects' | 'openssl' | 'kernel-encryption';

/** What a cluster must run for a mesh (checked before a run on an existing cluster). */
export type ClusterNeed = 'nothing' | 'istio' | 'cilium' | 'cilium-l7';

export interface MeshRequirements {
  local: readonly LocalNeed[];
  cluster: ClusterNeed;
  /** The kind cluster flavour its cells run on. */
  flavour: ClusterFlavour;
  /** The CLI a kind run installs the mesh's control plane with. */
  kindTool?: { tool: 'istioctl' | 'cilium'; why: string };
  /** Istio's install profile it needs on kind (absent: minimal; ambient: istio-cni + ztunnel). */
  istioProfile?: 'ambient';
  /** What security mtls needs of the local platform beyond `local`; a cell without it is not run, saying why. */
  mtlsLocal?: readonly LocalNeed[];
  /** Why its mtls cells do not run on a cluster yet (absent: they do); such a cell is recorded as not run with this reason. */
  mtlsCluster?: string;
}

/** The versions of the meshes' control planes a kind run installs or a cluster must run. */
export interface MeshVersions {
  istio: string;
  cilium: string;
}

export interface MeshModule<N extends string = MeshName> {
  readonly name: N;
  /** One sentence on the request path and what intercepts it, for reports. */
  readonly description: string;
  /** How prose names it: "the sidecar path". */
  readonly phrase: string;
  /** Its colour in every chart. */
  readonly colour: `#${string}`;
  readonly requires: MeshRequirements;
  /** The L7 proxy it puts on a cluster's path, named with its version; undefined for none. */
  clusterProxy?(versions: MeshVersions): string;
  /** Notes on an existing cluster's data path for this mesh (e.g. no separable node proxy). */
  clusterNotes?(found: ClusterMeshesFound, context: string): string[];
  /** A fresh local implementation for one cell. */
  local(): Mesh;
  /** A fresh Kubernetes part for one cell (in the cell's security mode; absent: plaintext). */
  kube(options?: { security?: Security }): KubeMesh;
}
