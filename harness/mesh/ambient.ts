// ambient: Istio's sidecarless mode. No proxy in any pod; one L4 proxy per node (ztunnel)
// takes every connection of the node's pods and carries it over mutual TLS to the
// destination's node proxy — on one node that is the same proxy's inbound side, as ztunnel
// does — which hands it to the server. Nothing parses HTTP: the node proxy is HAProxy in
// `mode tcp` (ztunnel is a Rust L4 proxy; Envoy is not on this host and would be L7 anyway).
// Path: client → node proxy (outbound) → node proxy (inbound) → server.
//
// Capture: iptables DNAT in the node netns (nat PREROUTING: every TCP connection from a pod
// to the service range goes to the node proxy's outbound listener, 15001 as ztunnel's). The
// node proxy reads the original VIP:port from conntrack (SO_ORIGINAL_DST, HAProxy's `dst`),
// picks an endpoint and opens the tunnel. Istio puts its redirection inside each pod's netns
// (istio-cni, in-pod mode); doing it on the node changes where the rule sits, not the path.
//
// The tunnel: ztunnel speaks HBONE (HTTP CONNECT over mTLS on port 15008, the destination
// named in the CONNECT). HAProxy in TCP mode has no CONNECT, so the node proxy's inbound side
// has one listener per destination pod (15100 + the pod's index); with mtls each listener
// requires a client certificate from the run's CA, and the outbound side verifies the
// inbound's certificate and name (SNI + verifyhost). One certificate per node proxy
// (spiffe://cluster.local/ns/istio-system/sa/ztunnel): ztunnel presents each source
// workload's own identity, which HAProxy cannot choose per connection. Every client
// connection is one tunnel connection: no pooling in TCP mode (ztunnel multiplexes HBONE
// streams over pooled HTTP/2 connections); with keep-alive clients the handshakes are
// amortised over their requests all the same, and the counters say how many there were.
//
// security plaintext: Istio has no ambient without mTLS. meshbench runs the same path with
// the tunnel leg in clear TCP, named "ambient (plaintext tunnel)", so the TLS share of the
// cost can be read off beside the mtls cell.
//
// On Kubernetes: Istio's ambient profile (istio-cni + ztunnel DaemonSet), the cell's
// namespace labelled istio.io/dataplane-mode=ambient; mtls is always on there.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1';
import type { Manifest } from '../platform/kubernetes/manifests.ts';
import type { LocalCluster, NodeHost, Pod, ProcessHandle } from '../platform/local/cluster.ts';
import { chainName, LIVE_RUNS_DIR } from '../platform/local/names.ts';
import { parseHaproxyStats, statsCommand } from '../proxy/haproxy.ts';
import { waitForStatsSocket } from '../proxy/ready.ts';
import { DEFAULT_PROXY_TUNING, type ProxyStats, type ProxyTuning } from '../proxy/types.ts';
import { assertNoFailedHandshakes, tlsTotals } from './sidecar.ts';
import { CellPki, type TlsFiles } from './tls.ts';
import type {
  Component, KubeMesh, Mesh, MeshContainer, MeshContext, MeshManifestContext, MeshModule, PathCounter, Service,
} from './types.ts';

/** ztunnel's outbound capture port. */
export const ZTUNNEL_OUTBOUND_PORT = 15001;
/** The node proxy's inbound listener for destination pod n (0-based pod index): 15100 + n. */
export const ZTUNNEL_INBOUND_PORT_BASE = 15100;
export const ZTUNNEL_NAMESPACE = 'istio-system';
export const ZTUNNEL_SERVICE_ACCOUNT = 'ztunnel';

export const inboundPort = (pod: Pod): number => ZTUNNEL_INBOUND_PORT_BASE + pod.index;

/** Where the outbound side sends a service's connections: its endpoints' tunnels, or its waypoint. */
export interface TunnelTarget {
  ip: string;
  port: number;
  /** The name the peer's certificate must carry (SNI and verifyhost). */
  tlsName: string;
}

export interface NodeProxyConfig {
  id: string;
  /** The node it runs on (absent: the cluster's first). */
  node?: NodeHost;
  nodeIp: string;
  services: Service[];
  targetsOf(service: Service): TunnelTarget[];
  /** Destination pods this node proxy delivers to, each on its own inbound port. */
  destinations: Array<{ pod: Pod; appPort: number }>;
  /** mtls: this node proxy's certificate and the CA; absent: the tunnel in clear TCP. */
  tls?: TlsFiles;
  tuning?: ProxyTuning;
}

/** The ztunnel-like node proxy's HAProxy configuration: TCP mode only, no HTTP anywhere. */
export function renderNodeProxyConfig(config: NodeProxyConfig, statsSocket: string): string {
  const tuning = config.tuning ?? DEFAULT_PROXY_TUNING;
  const tls = config.tls;
  const lines = [
    'global',
    `  maxconn ${tuning.maxConnections}`,
    `  nbthread ${tuning.threads}`,
    `  stats socket ${statsSocket} mode 600 level operator`,
    '  hard-stop-after 3s',
    ...(tls ? ['  ssl-default-bind-options ssl-min-ver TLSv1.3', '  ssl-default-server-options ssl-min-ver TLSv1.3'] : []),
    '',
    'defaults',
    '  mode tcp',
    `  timeout connect ${tuning.connectTimeoutMs}ms`,
    `  timeout client ${tuning.idleTimeoutMs}ms`,
    `  timeout server ${tuning.idleTimeoutMs}ms`,
    '',
    'frontend outbound',
    `  bind ${config.nodeIp}:${ZTUNNEL_OUTBOUND_PORT}`,
  ];
  for (const service of config.services) {
    lines.push(`  use_backend to-${service.name} if { dst ${service.vip} } { dst_port ${service.port} }`);
  }
  lines.push('');
  for (const service of config.services) {
    lines.push(`backend to-${service.name}`, '  balance random');
    config.targetsOf(service).forEach((t, i) => {
      const ssl = tls ? ` ssl verify required ca-file ${tls.caFile} crt ${tls.certFile} sni str(${t.tlsName}) verifyhost ${t.tlsName}` : '';
      lines.push(`  server t${i} ${t.ip}:${t.port}${ssl}`);
    });
    lines.push('');
  }
  for (const { pod, appPort } of config.destinations) {
    const ssl = tls ? ` ssl crt ${tls.certFile} ca-file ${tls.caFile} verify required` : '';
    lines.push(
      `frontend inbound-${pod.name}`,
      `  bind ${config.nodeIp}:${inboundPort(pod)}${ssl}`,
      `  default_backend pod-${pod.name}`,
      '',
      `backend pod-${pod.name}`,
      `  server app ${pod.ip}:${appPort}`,
      '',
    );
  }
  return lines.join('\n');
}

export interface RunningNodeProxy {
  process: ProcessHandle;
  stats(): Promise<ProxyStats>;
}

/** Starts the node proxy in the node netns; its files live under /run/meshbench/<run>/<id>. */
export async function startNodeProxy(cluster: LocalCluster, config: NodeProxyConfig): Promise<RunningNodeProxy> {
  const runDir = join(LIVE_RUNS_DIR, cluster.runId);
  cluster.state.register({ kind: 'dir', path: runDir });
  const dir = join(runDir, config.id);
  mkdirSync(dir, { recursive: true });
  const statsSocket = join(dir, 'stats.sock');
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, renderNodeProxyConfig(config, statsSocket));
  const proc = cluster.spawn(config.node ?? cluster.node, config.id, ['haproxy', '-db', '-f', configPath], { cpus: 'pods' });
  await waitForStatsSocket(statsSocket, proc, 10_000);
  return { process: proc, stats: async () => parseHaproxyStats(await statsCommand(statsSocket, 'show stat')) };
}

/** nat PREROUTING in the node netns: every TCP connection to the service range → the node proxy's outbound port. */
export function renderAmbientCaptureRules(runId: string, nodeIp: string): string {
  const chain = chainName(runId, 'AMBIENT');
  return [
    '*nat',
    `:${chain} - [0:0]`,
    `-A PREROUTING -d 198.19.0.0/16 -p tcp -j ${chain}`,
    `-A ${chain} -p tcp -j DNAT --to-destination ${nodeIp}:${ZTUNNEL_OUTBOUND_PORT}`,
    'COMMIT',
    '',
  ].join('\n');
}

/** The node proxy's counters: connections per side, TLS sessions, and HTTP requests parsed (0: TCP mode). */
export async function nodeProxyCounters(proxy: RunningNodeProxy, prefix = 'node-proxy'): Promise<Record<string, number>> {
  const stats = await proxy.stats();
  const connections = stats.connectionsByListener ?? {};
  const counters: Record<string, number> = {
    [`${prefix}:outbound-connections`]: connections.outbound ?? 0,
    [`${prefix}:inbound-connections`]: Object.entries(connections).filter(([name]) => name.startsWith('inbound-')).reduce((sum, [, n]) => sum + n, 0),
    [`${prefix}:http-requests`]: Object.values(stats.requestsByListener).reduce((sum, n) => sum + n, 0),
  };
  for (const [upstream, n] of Object.entries(stats.requestsByUpstream)) {
    if (upstream.startsWith('to-')) counters[`${prefix}:outbound:${upstream.slice(3)}`] = n;
  }
  if (stats.tlsByListener) {
    const inbound = tlsTotals(stats, 'inbound', (name) => name.startsWith('inbound-'));
    const upstream = tlsTotals(stats, 'upstream', (name) => name.startsWith('to-'));
    Object.assign(counters, {
      [`${prefix}:inbound-tls-handshakes`]: inbound.handshakes,
      [`${prefix}:inbound-tls-resumed`]: inbound.resumed,
      [`${prefix}:inbound-tls-failed`]: inbound.failed,
      [`${prefix}:upstream-tls-handshakes`]: upstream.handshakes,
      [`${prefix}:upstream-tls-resumed`]: upstream.resumed,
      [`${prefix}:upstream-tls-failed`]: upstream.failed,
    });
  }
  return counters;
}

/** The node proxy's own certificate (one per node, as ztunnel's identity). */
export function nodeProxyTls(pki: CellPki): Promise<TlsFiles> {
  return pki.filesFor(ZTUNNEL_SERVICE_ACCOUNT, { namespace: ZTUNNEL_NAMESPACE });
}

export class AmbientMesh implements Mesh {
  readonly name: string = 'ambient';
  readonly path: string = 'client → node proxy (L4, outbound) → mTLS tunnel → node proxy (L4, inbound) → server (iptables DNAT on the node)';
  /** The first node's proxy. */
  protected nodeProxy?: RunningNodeProxy;
  /** One node proxy per node (two nodes: a pod's connection goes to its own node's, the tunnel to the destination's node's). */
  protected readonly nodeProxies: Array<{ node: NodeHost; proxy: RunningNodeProxy }> = [];
  protected ctx?: MeshContext;
  protected pki?: CellPki;
  protected tls?: TlsFiles;

  async install(ctx: MeshContext): Promise<void> {
    this.ctx = ctx;
    if (ctx.security === 'mtls') {
      this.pki = ctx.pki ?? new CellPki(ctx.cluster);
      this.tls = await nodeProxyTls(this.pki);
    }
    await this.installBeforeNodeProxy(ctx);
    const destinations = ctx.services.flatMap((s) => s.endpoints.map((pod) => ({ pod, appPort: s.targetPort })));
    for (const node of ctx.cluster.nodes) {
      const proxy = await startNodeProxy(ctx.cluster, {
        id: node.index === 0 ? 'node-proxy' : `${node.name}-proxy`,
        node,
        nodeIp: node.ip,
        services: ctx.services,
        targetsOf: (service) => this.targetsOf(service),
        // Each node proxy delivers to its own node's pods.
        destinations: destinations.filter(({ pod }) => (pod.node?.index ?? 0) === node.index),
        ...(this.tls ? { tls: this.tls } : {}),
      });
      this.nodeProxies.push({ node, proxy });
      await ctx.cluster.iptablesRestore(node, renderAmbientCaptureRules(ctx.cluster.runId, node.ip));
    }
    this.nodeProxy = this.nodeProxies[0]!.proxy;
  }

  /** Parts the node proxy's routes point at (waypoint's proxies), started before it. */
  protected async installBeforeNodeProxy(_ctx: MeshContext): Promise<void> {}

  /** Without a waypoint: straight to the tunnel of each endpoint (the inbound side of its node's proxy). */
  protected targetsOf(service: Service): TunnelTarget[] {
    const first = this.ctx!.cluster.node;
    return service.endpoints.map((pod) => ({ ip: (pod.node ?? first).ip, port: inboundPort(pod), tlsName: this.tls?.dnsName ?? '' }));
  }

  async attach(): Promise<void> {}

  components(): Component[] {
    return this.nodeProxies.map(({ node, proxy }) => ({ id: `${node.name}/node-proxy`, role: 'node-proxy', pod: node.name, pid: proxy.process.pid, cgroupV2: proxy.process.cgroupV2 }));
  }

  /** Per node proxy (the first's keys `node-proxy:…` as with one node, the second's `node2/node-proxy:…`). */
  async pathCounters(): Promise<Record<string, number>> {
    const counters: Record<string, number> = {};
    for (const { node, proxy } of this.nodeProxies) {
      const prefix = node.index === 0 ? 'node-proxy' : `${node.name}/node-proxy`;
      Object.assign(counters, await nodeProxyCounters(proxy, prefix));
      assertNoFailedHandshakes([
        { where: `the ${node.name} proxy (inbound)`, failed: counters[`${prefix}:inbound-tls-failed`] ?? 0 },
        { where: `the ${node.name} proxy (upstream)`, failed: counters[`${prefix}:upstream-tls-failed`] ?? 0 },
      ]);
    }
    return counters;
  }
}

/** ztunnel's Prometheus port. */
export const ZTUNNEL_METRICS_PORT = 15020;

export function ztunnelContainer(): MeshContainer {
  return { role: 'node-proxy', namespace: ZTUNNEL_NAMESPACE, labelSelector: 'app=ztunnel', container: 'istio-proxy' };
}

/** TCP connections ztunnel opened towards the servers (reporter destination), on the servers' node. */
export function ztunnelConnectionsCounter(): PathCounter {
  return {
    name: 'node-proxy.tcp-connections',
    namespace: ZTUNNEL_NAMESPACE,
    labelSelector: 'app=ztunnel',
    serversNodeOnly: true,
    port: ZTUNNEL_METRICS_PORT,
    path: '/metrics',
    metric: 'istio_tcp_connections_opened_total',
    labels: { reporter: 'destination' },
  };
}

/** Ambient namespaces are always mTLS between ztunnels; STRICT says so and refuses plaintext peers. */
export function strictPeerAuthentication(ctx: MeshManifestContext): Manifest {
  return new PeerAuthentication({
    metadata: { name: 'strict', namespace: ctx.namespace, labels: { ...ctx.labels } },
    spec: { mtls: { mode: 'STRICT' } },
  });
}

export class AmbientKubeMesh implements KubeMesh {
  readonly name: string = 'ambient';
  readonly path: string = 'client → ztunnel (client node) → HBONE mTLS → ztunnel (server node) → server (istio-cni redirection in each pod)';
  readonly provenBy = { counter: 'node-proxy.tcp-connections', note: 'no connection counted by ztunnel on the servers’ node: the ambient path is not proven' };

  namespaceLabels(): Record<string, string> {
    return { 'istio.io/dataplane-mode': 'ambient', 'istio-injection': 'disabled' };
  }

  objects(ctx: MeshManifestContext): Manifest[] {
    return [strictPeerAuthentication(ctx)];
  }

  containers(): MeshContainer[] {
    return [ztunnelContainer()];
  }

  pathCounters(): PathCounter[] {
    return [ztunnelConnectionsCounter()];
  }

  notes(): string[] {
    return ['ambient on Kubernetes: ztunnel always tunnels over mTLS (HBONE), so a plaintext cell there runs with mTLS too'];
  }
}

export const ambient: MeshModule<'ambient'> = {
  name: 'ambient',
  description:
    'sidecarless, as Istio ambient: client → per-node L4 proxy (HAProxy mode tcp as ztunnel, iptables DNAT on the node) → mTLS tunnel to the destination’s node proxy (on one node its own inbound side) → server; no HTTP parsing; in plaintext the same path with the tunnel in clear TCP',
  phrase: 'the ambient node proxy',
  colour: '#8e6c8a',
  requires: {
    local: ['iptables', 'proxy'],
    cluster: 'istio',
    flavour: 'kube',
    kindTool: { tool: 'istioctl', why: 'installs Istio (ambient profile: istio-cni, ztunnel) for the ambient meshes' },
    istioProfile: 'ambient',
  },
  clusterProxy: (versions) => `ztunnel (Istio ${versions.istio})`,
  local: () => new AmbientMesh(),
  kube: () => new AmbientKubeMesh(),
};
