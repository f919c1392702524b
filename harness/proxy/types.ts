// The L7 proxy every mesh that needs one runs: configured from a service map, started in a
// pod or on the node, asked for its counters, stopped. HAProxy from Debian is the one this
// host has; Envoy can be added as another implementation where its binary exists.
import type { LocalCluster, Placement, ProcessHandle } from '../platform/local/cluster.ts';

export interface Endpoint {
  ip: string;
  port: number;
}

/** One service as a proxy routes it: the VIP:port clients ask for and the pods behind it. */
export interface ServiceRoute {
  name: string;
  vip: string;
  port: number;
  endpoints: Endpoint[];
}

/**
 * What the proxy speaks on both sides: HTTP/1.1, or HTTP/2 in clear text (h2c, prior
 * knowledge) from client to proxy and from proxy to upstream, as gRPC needs end to end.
 */
export type ProxyProtocol = 'http1' | 'h2';

export interface ProxyConfig {
  /** Identifies the proxy in stats and file names, e.g. `client-1-sidecar`, `node-proxy`. */
  id: string;
  /** Default 'http1'. */
  protocol?: ProxyProtocol;
  /**
   * Outbound capture listener (sidecar): connections REDIRECTed here are routed by their
   * original destination (SO_ORIGINAL_DST) to the service's endpoints.
   */
  outbound?: { port: number; routes: ServiceRoute[] };
  /** Inbound capture listener (sidecar): everything arriving here goes to the local app. */
  inbound?: { port: number; appPort: number };
  /** One listener per service on the node address (node proxy: the BPF map points VIP:port here). */
  perService?: { bindIp: string; listeners: Array<{ listenPort: number; route: ServiceRoute }> };
}

/** The same work in every proxy of a run (DESIGN.md, "Same work everywhere"). */
export interface ProxyTuning {
  threads: number;
  maxConnections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

export const DEFAULT_PROXY_TUNING: ProxyTuning = {
  threads: 1,
  maxConnections: 4096,
  connectTimeoutMs: 2000,
  idleTimeoutMs: 30_000,
};

export interface ProxyStats {
  /** HTTP requests each listener received, by listener name (`outbound`, `inbound`, `svc-…`). */
  requestsByListener: Record<string, number>;
  /** Requests sent to each upstream cluster (backend), by service or `local-app`. */
  requestsByUpstream: Record<string, number>;
}

export interface RunningProxy {
  readonly config: ProxyConfig;
  readonly process: ProcessHandle;
  stats(): Promise<ProxyStats>;
}

export interface Proxy {
  /** `haproxy`, `envoy`. */
  readonly name: string;
  version(): Promise<string>;
  start(
    cluster: LocalCluster,
    where: Placement,
    config: ProxyConfig,
    options: { uid?: number; tuning?: ProxyTuning },
  ): Promise<RunningProxy>;
}
