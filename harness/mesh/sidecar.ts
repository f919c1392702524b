// sidecar: one proxy per pod, inside the pod netns, as Istio does it. Outbound TCP from the
// app is REDIRECTed to the sidecar's 15001 (the sidecar's own uid 1337 excluded), which
// routes by the original destination (VIP:port) straight to an endpoint pod; inbound TCP is
// REDIRECTed to 15006, which forwards to the local app. Path: client → client sidecar →
// server sidecar → server. Every sidecar gets every service's routes, as Istio pushes them
// without a Sidecar resource scoping it.
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
import type { RunningProxy, ServiceRoute } from '../proxy/types.ts';
import {
  SIDECAR_INBOUND_PORT, SIDECAR_OUTBOUND_PORT, SIDECAR_UID, type Component, type KubeMesh, type Mesh, type MeshContainer,
  type MeshContext, type MeshManifestContext, type MeshModule, type PathCounter, type Service,
} from './types.ts';

export function serviceRoutes(services: Service[]): ServiceRoute[] {
  return services.map((s) => ({
    name: s.name,
    vip: s.vip,
    port: s.port,
    endpoints: s.endpoints.map((pod) => ({ ip: pod.ip, port: s.targetPort })),
  }));
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

  async install(): Promise<void> {}

  async attach(ctx: MeshContext, pod: Pod): Promise<void> {
    const targetPort = ctx.services[0]?.targetPort ?? 8080;
    await ctx.cluster.iptablesRestore(pod, renderCaptureRules(ctx.cluster.runId));
    const proxy = await ctx.proxy.start(
      ctx.cluster,
      pod,
      {
        id: `${pod.name}-sidecar`,
        outbound: { port: SIDECAR_OUTBOUND_PORT, routes: serviceRoutes(ctx.services) },
        inbound: { port: SIDECAR_INBOUND_PORT, appPort: targetPort },
      },
      { uid: SIDECAR_UID },
    );
    this.sidecars.set(pod.name, { pod, proxy });
  }

  components(): Component[] {
    return [...this.sidecars.values()].map(({ pod, proxy }) => {
      const role = pod.role === 'client' ? 'client-sidecar' : 'server-sidecar';
      return { id: `${pod.name}/${role}`, role, pod: pod.name, pid: proxy.process.pid, cgroupV2: pod.cgroupV2 };
    });
  }

  /** Requests each sidecar's outbound and inbound listeners handled. */
  async pathCounters(): Promise<Record<string, number>> {
    const counters: Record<string, number> = {};
    for (const [podName, { proxy }] of this.sidecars) {
      const stats = await proxy.stats();
      counters[`${podName}/sidecar:outbound`] = stats.requestsByListener.outbound ?? 0;
      counters[`${podName}/sidecar:inbound`] = stats.requestsByListener.inbound ?? 0;
    }
    return counters;
  }
}

export const ISTIO_PROXY_CONTAINER = 'istio-proxy';
/** Envoy's Prometheus endpoint in an Istio sidecar. */
export const ISTIO_PROXY_METRICS_PORT = 15090;

export class SidecarKubeMesh implements KubeMesh {
  readonly name = 'sidecar';
  readonly path = "client → client's istio-proxy → server's istio-proxy → server (iptables capture in each pod)";
  readonly injectedContainer = ISTIO_PROXY_CONTAINER;

  namespaceLabels(): Record<string, string> {
    return { 'istio-injection': 'enabled' };
  }

  objects(ctx: MeshManifestContext): Manifest[] {
    const metadata = (name: string) => ({ name, namespace: ctx.namespace, labels: { ...ctx.labels } });
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
    return ['istio sidecars: mTLS off between sidecars (PeerAuthentication DISABLE), as no other path encrypts'];
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
  kube: () => new SidecarKubeMesh(),
};
