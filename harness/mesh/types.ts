// One interface per data path: a mesh installs its node-wide parts, attaches its per-pod
// parts, says which processes play which role, and proves its path with counters.
import type { MeshName } from '../scenario/types.ts';
import type { LocalCluster, Pod } from '../platform/local/cluster.ts';
import type { Proxy } from '../proxy/types.ts';

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

export type ComponentRole = 'client-app' | 'client-sidecar' | 'server-sidecar' | 'server-app' | 'node-proxy';

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
}

export interface Mesh {
  readonly name: MeshName;
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
