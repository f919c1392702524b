// ebpf-l4 on Kubernetes: Cilium's eBPF data path alone (kube-proxy replacement: the
// service VIP is resolved at connect() by the socket LB), no L7 policy, so no proxy on the
// path. client → server. The L7 counter is read to show it stays at zero.
import type { Manifest } from '../manifests.ts';
import { l7ForwardedCounter, nodeEnvoyContainer } from './cilium.ts';
import type { KubeMesh, MeshContainer, PathCounter } from './types.ts';

export class EbpfL4KubeMesh implements KubeMesh {
  readonly name = 'ebpf-l4';
  readonly path = 'client → (eBPF socket LB rewrites the VIP at connect) → server';
  readonly flavour = 'cilium';
  readonly requires = 'cilium';

  namespaceLabels(): Record<string, string> {
    return { 'istio-injection': 'disabled' };
  }
  objects(): Manifest[] {
    return [];
  }
  containers(): MeshContainer[] {
    // Watched although off the path: an idle node proxy should cost nothing, and the figures show it.
    return [nodeEnvoyContainer()];
  }
  pathCounters(): PathCounter[] {
    return [l7ForwardedCounter()];
  }
  notes(): string[] {
    return [];
  }
}
