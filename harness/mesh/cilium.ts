// What the two Cilium meshes (ebpf, ebpf-l4) share on Kubernetes: the per-node Envoy (the cilium-envoy DaemonSet) as a
// component, and the agent's L7 counter that proves whether requests went through it.
import type { MeshContainer, PathCounter } from './types.ts';

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
