// The L7 proxy every mesh that needs one runs: configured from a service map, started in a
// pod or on the node, asked for its counters, stopped. HAProxy from Debian is the one this
// host has; Envoy can be added as another implementation where its binary exists.

/** Where a proxy runs, as the platform names it (a pod, a node). */
export interface ProxyPlacement {
  readonly name: string;
}

/** The process a platform started a proxy as. */
export interface ProxyProcess {
  readonly name: string;
  readonly pid: number;
  /** Its own cgroup v2 directory: what the probes and the CPU accounting watch. */
  readonly cgroupV2: string;
  readonly placement: ProxyPlacement;
  readonly exited: Promise<unknown>;
  stderrTail(): string;
  stop(): Promise<void>;
}

/**
 * What a proxy implementation needs of the platform it runs on: a run-owned directory for
 * its files (registered for cleanup; short, as unix socket paths must be) and a way to start
 * a process in a pod or on a node with the system under test's CPUs. The local platform's
 * cluster is one; the proxy knows nothing else of it.
 */
export interface ProxyHost {
  readonly runId: string;
  proxyDir(id: string): string;
  spawn(where: ProxyPlacement, name: string, argv: readonly string[], options: { cpus: 'pods'; uid?: number }): ProxyProcess;
}

export interface Endpoint {
  ip: string;
  port: number;
  /** With upstream TLS: the name sent as SNI and checked against the peer certificate's DNS SAN. */
  tlsName?: string;
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
  /**
   * Mutual TLS 1.3 (security mtls): `inbound` terminates it on the inbound and per-service
   * listeners (a peer certificate from the CA required), `upstream` originates it on every
   * service endpoint (the peer's certificate verified, its name checked when the endpoint has
   * a tlsName). The app-facing legs (outbound listener, local app) stay plaintext, as in Istio.
   */
  tls?: ProxyTls;
}

export interface ProxyTls {
  /** This proxy's certificate followed by its key (PEM). */
  certFile: string;
  /** The CA peers' certificates must chain to. */
  caFile: string;
  inbound: boolean;
  upstream: boolean;
}

/** TLS sessions of a listener or an upstream: full handshakes, resumed ones, failed ones. */
export interface TlsCounters {
  handshakes: number;
  resumed: number;
  failed: number;
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
  /** Connections each listener accepted, by listener name. */
  connectionsByListener?: Record<string, number>;
  /** TLS sessions per listener and per upstream (present where the proxy reports them). */
  tlsByListener?: Record<string, TlsCounters>;
  tlsByUpstream?: Record<string, TlsCounters>;
}

export interface RunningProxy {
  readonly config: ProxyConfig;
  readonly process: ProxyProcess;
  stats(): Promise<ProxyStats>;
}

export interface Proxy {
  /** `haproxy`, `envoy`. */
  readonly name: string;
  version(): Promise<string>;
  start(
    host: ProxyHost,
    where: ProxyPlacement,
    config: ProxyConfig,
    options: { uid?: number; tuning?: ProxyTuning },
  ): Promise<RunningProxy>;
}
