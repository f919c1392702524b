// sidecar on Kubernetes: Istio injects an Envoy (istio-proxy, a native sidecar) into every
// pod of the cell's namespace; iptables in each pod capture outbound and inbound traffic.
// client → client's sidecar → server's sidecar → server.
//
// The same L7 work as the other paths: mTLS between the sidecars is switched off (the
// ebpf path does not encrypt either), and each sidecar only gets the configuration of its
// own namespace's services (Sidecar egress ./*), as a tuned deployment would.
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1';
import { DestinationRule, Sidecar } from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import type { Manifest } from '../manifests.ts';
import type { KubeMesh, MeshContainer, MeshManifestContext, PathCounter } from './types.ts';

export const ISTIO_PROXY_CONTAINER = 'istio-proxy';
/** Envoy's Prometheus endpoint in an Istio sidecar. */
export const ISTIO_PROXY_METRICS_PORT = 15090;

export class SidecarKubeMesh implements KubeMesh {
  readonly name = 'sidecar';
  readonly path = "client → client's istio-proxy → server's istio-proxy → server (iptables capture in each pod)";
  readonly flavour = 'kube';
  readonly requires = 'istio';

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
