// baseline on Kubernetes: no mesh. The cluster's own service data path (kube-proxy's
// iptables DNAT on the kube flavour) carries client → service VIP → server.
import type { Manifest } from '../manifests.ts';
import type { KubeMesh } from './types.ts';

export class BaselineKubeMesh implements KubeMesh {
  readonly name = 'baseline';
  readonly path = 'client → service VIP (kube-proxy iptables DNAT on the node) → server';
  readonly flavour = 'kube';
  readonly requires = 'nothing';
  namespaceLabels(): Record<string, string> {
    // Explicit, so a cluster that injects sidecars by default does not add one.
    return { 'istio-injection': 'disabled' };
  }
  objects(): Manifest[] {
    return [];
  }
  containers(): [] {
    return [];
  }
  pathCounters(): [] {
    return [];
  }
  notes(): string[] {
    return [];
  }
}
