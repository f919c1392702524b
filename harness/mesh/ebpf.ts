// ebpf: Cilium-style socket-level load balancing to one per-node proxy. A cgroup/connect4
// program attached to the run's cgroup rewrites VIP:port to the node proxy's per-service
// listener (the VIP is lost at that point, so each service gets its own port), and
// getpeername4 gives the client back the VIP. No iptables rules anywhere. Path:
// client → node proxy → server.
//
// On Kubernetes: Cilium with its eBPF kube-proxy replacement, and an L7 CiliumNetworkPolicy
// on the server pods that makes every request to them pass the per-node Envoy on the
// server's node: the same HTTP parsing and routing work a sidecar does, once per node
// instead of twice per request. client → node Envoy → server.
import { CiliumNetworkPolicy } from '../platform/kubernetes/ciliumPolicy.ts';
import type { Manifest } from '../platform/kubernetes/manifests.ts';
import { bpfPinDir } from '../platform/local/names.ts';
import type { RunningProxy } from '../proxy/types.ts';
import type { NodeHost } from '../platform/local/nodes.ts';
import { CILIUM_MTLS_NOT_YET, CiliumKubeMesh } from './cilium.ts';
import { loadSockLb, type SockLb, type SockLbService } from './sockLb.ts';
import { serviceRoutes } from './sidecar.ts';
import {
  NODE_PROXY_PORT_BASE, type Component, type KubeMesh, type Mesh, type MeshContainer, type MeshContext,
  type MeshManifestContext, type MeshModule, type PathCounter,
} from './types.ts';

/**
 * Attaches the socket LB with the given VIP → backend map to the run's cgroup, or with
 * `node` to that node's pods' cgroup (one LB per node: each rewrites to its own node's
 * proxy); registered before creation.
 */
export async function installSockLb(ctx: MeshContext, services: SockLbService[], node?: NodeHost): Promise<SockLb> {
  const pinDir = bpfPinDir(ctx.cluster.runId, node && node.index > 0 ? `socklb-${node.name}` : 'socklb');
  const cgroupDir = node ? node.podsCgroupV2 : ctx.cluster.cgroupV2Root;
  ctx.cluster.state.register({ kind: 'bpf-pin', path: bpfPinDir(ctx.cluster.runId) });
  ctx.cluster.state.register({ kind: 'bpf-attach', pinDir, cgroupDir });
  const lb = await loadSockLb(pinDir, cgroupDir);
  await lb.setServices(services);
  return lb;
}

/** `vip:port` → rewrites, keyed for path counters. */
export async function rewriteCounters(lb: SockLb): Promise<Record<string, number>> {
  const counters: Record<string, number> = {};
  for (const [service, count] of await lb.rewriteCounts()) counters[`bpf-connect4-rewrites:${service}`] = count;
  return counters;
}

export class EbpfMesh implements Mesh {
  readonly name = 'ebpf' as const;
  readonly path = 'client → node proxy → server (eBPF cgroup/connect4 rewrites the VIP to the node proxy)';
  /** One node proxy and one socket LB per node (two nodes: each pod's connect goes to its own node's proxy). */
  private readonly perNode: Array<{ node: NodeHost; proxy: RunningProxy; lb: SockLb }> = [];

  async install(ctx: MeshContext): Promise<void> {
    const listeners = serviceRoutes(ctx.services).map((route, i) => ({
      listenPort: NODE_PROXY_PORT_BASE + ctx.services[i]!.index,
      route,
    }));
    for (const node of ctx.cluster.nodes) {
      const proxy = await ctx.proxy.start(
        ctx.cluster,
        node,
        { id: node.index === 0 ? 'node-proxy' : `${node.name}-proxy`, perService: { bindIp: node.ip, listeners } },
        {},
      );
      const lb = await installSockLb(
        ctx,
        ctx.services.map((s) => ({
          vip: s.vip,
          port: s.port,
          backends: [{ ip: node.ip, port: NODE_PROXY_PORT_BASE + s.index }],
        })),
        node,
      );
      this.perNode.push({ node, proxy, lb });
    }
  }

  async attach(): Promise<void> {}

  components(): Component[] {
    return this.perNode.map(({ node, proxy }) => ({ id: `${node.name}/node-proxy`, role: 'node-proxy', pod: node.name, pid: proxy.process.pid, cgroupV2: proxy.process.cgroupV2 }));
  }

  /** Per node (the first's keys unprefixed, as with one node; the second's `node2/…`): rewrites and requests per listener. */
  async pathCounters(): Promise<Record<string, number>> {
    const counters: Record<string, number> = {};
    for (const { node, proxy, lb } of this.perNode) {
      const prefix = node.index === 0 ? '' : `${node.name}/`;
      for (const [key, count] of Object.entries(await rewriteCounters(lb))) counters[`${prefix}${key}`] = count;
      const stats = await proxy.stats();
      for (const [listener, count] of Object.entries(stats.requestsByListener)) counters[`${prefix}node-proxy:${listener}`] = count;
    }
    return counters;
  }
}

export class EbpfKubeMesh extends CiliumKubeMesh {
  readonly name = 'ebpf';
  readonly path = 'client → (eBPF socket LB) → per-node Envoy on the server node (L7 policy) → server';
  readonly provenBy = { counter: 'node-proxy.l7-forwarded', note: 'no request counted by the node proxy: the L7 path is not proven' };

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
}

export const ebpf: MeshModule<'ebpf'> = {
  name: 'ebpf',
  description: 'eBPF socket-level load balancing to one proxy per node: client → node proxy → server (as Cilium with Envoy)',
  phrase: 'the eBPF path with a node proxy',
  colour: '#2e86ab',
  requires: {
    local: ['proxy', 'bpf-objects'],
    cluster: 'cilium-l7',
    flavour: 'cilium',
    kindTool: { tool: 'cilium', why: 'installs Cilium for the ebpf meshes' },
    // mtls: node-to-node encryption (Cilium's WireGuard or IPsec); this host's kernel may lack both.
    mtlsLocal: ['kernel-encryption'],
    mtlsCluster: CILIUM_MTLS_NOT_YET,
  },
  clusterProxy: (versions) => `cilium-envoy (Cilium ${versions.cilium})`,
  clusterNotes: (found) =>
    found.ciliumEnvoy ? [] : ['ebpf: Cilium runs its Envoy inside the agent (no cilium-envoy DaemonSet): node-proxy figures are not separable'],
  local: () => new EbpfMesh(),
  kube: () => new EbpfKubeMesh(),
};
