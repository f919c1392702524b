// sidecar: one proxy per pod, inside the pod netns, as Istio does it. Outbound TCP from the
// app is REDIRECTed to the sidecar's 15001 (the sidecar's own uid 1337 excluded), which
// routes by the original destination (VIP:port) straight to an endpoint pod; inbound TCP is
// REDIRECTed to 15006, which forwards to the local app. Path: client → client sidecar →
// server sidecar → server. Every sidecar gets every service's routes, as Istio pushes them
// without a Sidecar resource scoping it.
//
// security mtls: TLS 1.3 between the client's and the server's sidecar, as Istio's default
// (the app-to-sidecar legs stay plaintext). Each pod's sidecar has its own certificate from
// the run's CA (SPIFFE id spiffe://cluster.local/ns/default/sa/<pod>); the server sidecar's
// inbound listener requires a client certificate from that CA and refuses anything else
// (plaintext included), the client sidecar verifies the server's certificate and its name
// (SNI + verifyhost on the pod's DNS SAN). Connections are pooled as Envoy pools them
// (http-reuse always, keep-alive), so handshakes are amortised; path counters count them.
//
// On Kubernetes Istio injects an Envoy (istio-proxy, a native sidecar) into every pod of the
// cell's namespace; iptables in each pod capture outbound and inbound traffic. The same L7
// work as the other paths: mTLS between the sidecars is switched off (the ebpf path does not
// encrypt either), and each sidecar only gets the configuration of its own namespace's
// services (Sidecar egress ./*), as a tuned deployment would.
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1';
import { DestinationRule, Sidecar } from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import type { Manifest } from '../platform/kubernetes/manifests.ts';
import { chainName } from '../platform/local/names.ts';
import type { Pod } from '../platform/local/cluster.ts';
import type { Security } from '../scenario/types.ts';
import type { ProxyStats, ProxyTls, RunningProxy, ServiceRoute } from '../proxy/types.ts';
import { CellPki, LOCAL_NAMESPACE, workloadDnsName } from './tls.ts';
import {
  SIDECAR_INBOUND_PORT, SIDECAR_OUTBOUND_PORT, SIDECAR_UID, type Component, type KubeMesh, type Mesh, type MeshContainer,
  type MeshContext, type MeshManifestContext, type MeshModule, type PathCounter, type Service,
} from './types.ts';

export function serviceRoutes(services: Service[], options: { tlsNames?: boolean } = {}): ServiceRoute[] {
  return services.map((s) => ({
    name: s.name,
    vip: s.vip,
    port: s.port,
    endpoints: s.endpoints.map((pod) => ({
      ip: pod.ip,
      port: s.targetPort,
      ...(options.tlsNames ? { tlsName: workloadDnsName(LOCAL_NAMESPACE, pod.name) } : {}),
    })),
  }));
}

/** TLS sessions of a proxy summed over its listeners (`inbound`) or its service upstreams (`upstream`). */
export function tlsTotals(stats: ProxyStats, side: 'inbound' | 'upstream', only?: (name: string) => boolean): { handshakes: number; resumed: number; failed: number } {
  const byName = (side === 'inbound' ? stats.tlsByListener : stats.tlsByUpstream) ?? {};
  const total = { handshakes: 0, resumed: 0, failed: 0 };
  for (const [name, c] of Object.entries(byName)) {
    if (only && !only(name)) continue;
    total.handshakes += c.handshakes;
    total.resumed += c.resumed;
    total.failed += c.failed;
  }
  return total;
}

/** A cell whose proxies failed TLS handshakes measured refused connections, not the mesh: it fails, saying where. */
export function assertNoFailedHandshakes(failures: Array<{ where: string; failed: number }>): void {
  const bad = failures.filter((f) => f.failed > 0);
  if (bad.length === 0) return;
  throw new Error(
    `mtls: TLS handshakes failed (${bad.map((f) => `${f.failed} at ${f.where}`).join(', ')}): ` +
      "a peer's certificate does not chain to the run's CA or does not name the workload it should",
  );
}

export function renderCaptureRules(runId: string): string {
  const out = chainName(runId, 'OUTBOUND');
  const inbound = chainName(runId, 'INBOUND');
  return [
    '*nat',
    `:${out} - [0:0]`,
    `:${inbound} - [0:0]`,
    `-A OUTPUT -p tcp -j ${out}`,
    `-A ${out} -m owner --uid-owner ${SIDECAR_UID} -j RETURN`,
    `-A ${out} -d 127.0.0.0/8 -j RETURN`,
    `-A ${out} -p tcp -j REDIRECT --to-ports ${SIDECAR_OUTBOUND_PORT}`,
    `-A PREROUTING -p tcp -j ${inbound}`,
    `-A ${inbound} -p tcp --dport ${SIDECAR_OUTBOUND_PORT} -j RETURN`,
    `-A ${inbound} -p tcp --dport ${SIDECAR_INBOUND_PORT} -j RETURN`,
    `-A ${inbound} -p tcp -j REDIRECT --to-ports ${SIDECAR_INBOUND_PORT}`,
    'COMMIT',
    '',
  ].join('\n');
}

export class SidecarMesh implements Mesh {
  readonly name = 'sidecar' as const;
  readonly path = 'client → client sidecar → server sidecar → server (iptables REDIRECT in each pod)';
  private readonly sidecars = new Map<string, { pod: Pod; proxy: RunningProxy }>();
  private mtls = false;
  private pki?: CellPki;

  async install(ctx: MeshContext): Promise<void> {
    this.mtls = ctx.security === 'mtls';
    if (this.mtls) this.pki = ctx.pki ?? new CellPki(ctx.cluster);
  }

  async attach(ctx: MeshContext, pod: Pod): Promise<void> {
    const targetPort = ctx.services[0]?.targetPort ?? 8080;
    await ctx.cluster.iptablesRestore(pod, renderCaptureRules(ctx.cluster.runId));
    let tls: ProxyTls | undefined;
    if (this.pki) {
      const files = await this.pki.filesFor(pod.name, { uid: SIDECAR_UID });
      tls = { certFile: files.certFile, caFile: files.caFile, inbound: true, upstream: true };
    }
    const proxy = await ctx.proxy.start(
      ctx.cluster,
      pod,
      {
        id: `${pod.name}-sidecar`,
        outbound: { port: SIDECAR_OUTBOUND_PORT, routes: serviceRoutes(ctx.services, { tlsNames: this.mtls }) },
        inbound: { port: SIDECAR_INBOUND_PORT, appPort: targetPort },
        ...(tls ? { tls } : {}),
      },
      { uid: SIDECAR_UID },
    );
    this.sidecars.set(pod.name, { pod, proxy });
  }

  components(): Component[] {
    return [...this.sidecars.values()].map(({ pod, proxy }) => {
      const role = pod.role === 'client' ? 'client-sidecar' : 'server-sidecar';
      return { id: `${pod.name}/${role}`, role, pod: pod.name, pid: proxy.process.pid, cgroupV2: proxy.process.cgroupV2 };
    });
  }

  /**
   * Requests each sidecar's outbound and inbound listeners handled; with mtls also the TLS
   * sessions each sidecar accepted (inbound) and opened (upstream): full handshakes, resumed,
   * failed. A failed handshake fails the cell, naming the sidecar.
   */
  async pathCounters(): Promise<Record<string, number>> {
    const counters: Record<string, number> = {};
    const failures: Array<{ where: string; failed: number }> = [];
    for (const [podName, { proxy }] of this.sidecars) {
      const stats = await proxy.stats();
      counters[`${podName}/sidecar:outbound`] = stats.requestsByListener.outbound ?? 0;
      counters[`${podName}/sidecar:inbound`] = stats.requestsByListener.inbound ?? 0;
      if (!this.mtls) continue;
      const inbound = tlsTotals(stats, 'inbound', (name) => name === 'inbound');
      const upstream = tlsTotals(stats, 'upstream', (name) => name !== 'local-app');
      counters[`${podName}/sidecar:inbound-tls-handshakes`] = inbound.handshakes;
      counters[`${podName}/sidecar:inbound-tls-resumed`] = inbound.resumed;
      counters[`${podName}/sidecar:inbound-tls-failed`] = inbound.failed;
      counters[`${podName}/sidecar:upstream-tls-handshakes`] = upstream.handshakes;
      counters[`${podName}/sidecar:upstream-tls-resumed`] = upstream.resumed;
      counters[`${podName}/sidecar:upstream-tls-failed`] = upstream.failed;
      failures.push({ where: `${podName}'s sidecar (inbound)`, failed: inbound.failed }, { where: `${podName}'s sidecar (upstream)`, failed: upstream.failed });
    }
    assertNoFailedHandshakes(failures);
    return counters;
  }
}

export const ISTIO_PROXY_CONTAINER = 'istio-proxy';
/** Envoy's Prometheus endpoint in an Istio sidecar. */
export const ISTIO_PROXY_METRICS_PORT = 15090;

export class SidecarKubeMesh implements KubeMesh {
  readonly name = 'sidecar';
  /** mtls: Istio's mutual TLS between the sidecars, STRICT (plaintext refused); plaintext: off. */
  constructor(private readonly security: Security = 'plaintext') {}
  readonly path = "client → client's istio-proxy → server's istio-proxy → server (iptables capture in each pod)";
  readonly injectedContainer = ISTIO_PROXY_CONTAINER;

  namespaceLabels(): Record<string, string> {
    return { 'istio-injection': 'enabled' };
  }

  objects(ctx: MeshManifestContext): Manifest[] {
    const metadata = (name: string) => ({ name, namespace: ctx.namespace, labels: { ...ctx.labels } });
    if (this.security === 'mtls') {
      return [
        new PeerAuthentication({ metadata: metadata('strict'), spec: { mtls: { mode: 'STRICT' } } }),
        new DestinationRule({
          metadata: metadata('mtls'),
          spec: { host: `*.${ctx.namespace}.svc.cluster.local`, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } },
        }),
        new Sidecar({ metadata: metadata('default'), spec: { egress: [{ hosts: ['./*'] }] } }),
      ];
    }
    return [
      new PeerAuthentication({ metadata: metadata('plaintext'), spec: { mtls: { mode: 'DISABLE' } } }),
      new DestinationRule({
        metadata: metadata('plaintext'),
        spec: { host: `*.${ctx.namespace}.svc.cluster.local`, trafficPolicy: { tls: { mode: 'DISABLE' } } },
      }),
      new Sidecar({ metadata: metadata('default'), spec: { egress: [{ hosts: ['./*'] }] } }),
    ];
  }

  containers(): MeshContainer[] {
    return [
      { role: 'client-sidecar', namespace: 'cell', labelSelector: 'meshbench.io/role=client', container: ISTIO_PROXY_CONTAINER },
      { role: 'server-sidecar', namespace: 'cell', labelSelector: 'meshbench.io/role=server', container: ISTIO_PROXY_CONTAINER },
    ];
  }

  pathCounters(): PathCounter[] {
    const counter = (name: string, selector: string, reporter: string): PathCounter => ({
      name,
      namespace: 'cell',
      labelSelector: selector,
      serversNodeOnly: false,
      port: ISTIO_PROXY_METRICS_PORT,
      path: '/stats/prometheus',
      metric: 'istio_requests_total',
      labels: { reporter },
    });
    return [
      counter('client-sidecar.requests', 'meshbench.io/role=client', 'source'),
      counter('server-sidecar.requests', 'meshbench.io/role=server', 'destination'),
    ];
  }

  notes(): string[] {
    return this.security === 'mtls'
      ? ['istio sidecars: mutual TLS between sidecars (PeerAuthentication STRICT, DestinationRule ISTIO_MUTUAL)']
      : ['istio sidecars: mTLS off between sidecars (PeerAuthentication DISABLE), as no other path encrypts'];
  }
}

export const sidecar: MeshModule<'sidecar'> = {
  name: 'sidecar',
  description: 'a proxy in every pod: client → client’s sidecar → server’s sidecar → server (iptables capture, as Istio)',
  phrase: 'sidecar proxies',
  colour: '#d1495b',
  requires: {
    local: ['iptables', 'proxy'],
    cluster: 'istio',
    flavour: 'kube',
    kindTool: { tool: 'istioctl', why: 'installs Istio for the sidecar mesh' },
  },
  clusterProxy: (versions) => `istio-proxy (Istio ${versions.istio})`,
  local: () => new SidecarMesh(),
  kube: (options) => new SidecarKubeMesh(options?.security),
};
