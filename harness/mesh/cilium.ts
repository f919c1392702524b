// What the two Cilium meshes (ebpf, ebpf-l4) share on Kubernetes: the per-node Envoy (the cilium-envoy DaemonSet) as a
// component, and the agent's L7 counter that proves whether requests went through it.
import type { Manifest } from '../platform/kubernetes/manifests.ts';
import type { KubeMesh, MeshContainer, MeshManifestContext, PathCounter } from './types.ts';

export const CILIUM_NAMESPACE = 'kube-system';
export const CILIUM_AGENT_SELECTOR = 'k8s-app=cilium';
export const CILIUM_ENVOY_SELECTOR = 'k8s-app=cilium-envoy';
/** The agent's Prometheus port (prometheus.enabled in the Helm values). */
export const CILIUM_AGENT_METRICS_PORT = 9962;

export function nodeEnvoyContainer(): MeshContainer {
  return { role: 'node-proxy', namespace: CILIUM_NAMESPACE, labelSelector: CILIUM_ENVOY_SELECTOR, container: 'cilium-envoy' };
}

/** HTTP requests the agent's L7 proxy forwarded on the servers' node. */
export function l7ForwardedCounter(): PathCounter {
  return {
    name: 'node-proxy.l7-forwarded',
    namespace: CILIUM_NAMESPACE,
    labelSelector: CILIUM_AGENT_SELECTOR,
    serversNodeOnly: true,
    port: CILIUM_AGENT_METRICS_PORT,
    path: '/metrics',
    metric: 'cilium_policy_l7_total',
    labels: { rule: 'forwarded' },
  };
}

/**
 * The Kubernetes part both Cilium meshes share: no sidecar injection, the node's Envoy
 * watched (an idle one off the path should cost nothing, and the figures show it), its L7
 * counter read. A mesh adds its objects (ebpf: the L7 policy that puts Envoy on the path).
 */
export abstract class CiliumKubeMesh implements KubeMesh {
  abstract readonly name: string;
  abstract readonly path: string;
  abstract objects(ctx: MeshManifestContext): Manifest[];

  namespaceLabels(): Record<string, string> {
    return { 'istio-injection': 'disabled' };
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

/**
 * Cilium's transparent encryption (WireGuard, or IPsec) is a setting of the whole cluster
 * (Helm encryption.enabled/type), not of a namespace: the plaintext and mtls cells of one run
 * need two Cilium clusters, which the kind platform does not make yet. Until it does, the
 * eBPF meshes' mtls cells on a cluster are recorded as not run, never run in plaintext.
 */
export const CILIUM_MTLS_NOT_YET =
  "Cilium's WireGuard encryption is cluster-wide and meshbench does not yet make a second, encrypted Cilium cluster for the mtls cells";
