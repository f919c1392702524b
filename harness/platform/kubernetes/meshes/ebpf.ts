// ebpf on Kubernetes: Cilium with its eBPF kube-proxy replacement, and an L7
// CiliumNetworkPolicy on the server pods that makes every request to them pass the
// per-node Envoy on the server's node: the same HTTP parsing and routing work a sidecar
// does, once per node instead of twice per request. client → node Envoy → server.
import { CiliumNetworkPolicy } from '../ciliumPolicy.ts';
import type { Manifest } from '../manifests.ts';
import { l7ForwardedCounter, nodeEnvoyContainer } from './cilium.ts';
import type { KubeMesh, MeshContainer, MeshManifestContext, PathCounter } from './types.ts';

export class EbpfKubeMesh implements KubeMesh {
  readonly name = 'ebpf';
  readonly path = 'client → (eBPF socket LB) → per-node Envoy on the server node (L7 policy) → server';
  readonly flavour = 'cilium';
  readonly requires = 'cilium-l7';

  namespaceLabels(): Record<string, string> {
    return { 'istio-injection': 'disabled' };
  }

  objects(ctx: MeshManifestContext): Manifest[] {
    return [
      new CiliumNetworkPolicy({
        metadata: { name: 'l7-http-to-servers', namespace: ctx.namespace, labels: { ...ctx.labels } },
        spec: {
          description: 'meshbench ebpf mesh: HTTP to the servers passes the per-node Envoy (L7 rule, allows every GET)',
          endpointSelector: { matchLabels: { ...ctx.serverSelector } },
          ingress: [
            {
              fromEndpoints: [{ matchLabels: { ...ctx.clientSelector } }],
              toPorts: [{ ports: [{ port: String(ctx.appPort), protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/.*' }] } }],
            },
          ],
        },
      }),
    ];
  }

  containers(): MeshContainer[] {
    return [nodeEnvoyContainer()];
  }

  pathCounters(): PathCounter[] {
    return [l7ForwardedCounter()];
  }

  notes(): string[] {
    return [];
  }
}
