// baseline: no mesh, the reference every other data path is compared with. Locally
// kube-proxy-style iptables DNAT from each VIP to its backend pods, in the node netns (nat
// PREROUTING); pod routes are /32 veths through the node, so replies pass back through the
// node's conntrack and are un-NATed there. On Kubernetes the cluster's own service data
// path (kube-proxy's iptables DNAT on the kube flavour) carries client → service VIP → server.
import { run } from '../exec.ts';
import type { Manifest } from '../platform/kubernetes/manifests.ts';
import { chainName } from '../platform/local/names.ts';
import type { Component, KubeMesh, Mesh, MeshContext, MeshModule, Service } from './types.ts';

export function renderServiceDnatRules(runId: string, services: Service[]): string {
  const chain = chainName(runId, 'SERVICES');
  const lines = ['*nat', `:${chain} - [0:0]`, `-A PREROUTING -d 198.19.0.0/16 -j ${chain}`];
  for (const service of services) {
    // Random choice among n endpoints as kube-proxy does: the i-th rule matches with 1/(n-i).
    service.endpoints.forEach((pod, i) => {
      const remaining = service.endpoints.length - i;
      const statistic = remaining > 1 ? ` -m statistic --mode random --probability ${(1 / remaining).toFixed(5)}` : '';
      lines.push(
        `-A ${chain} -d ${service.vip}/32 -p tcp --dport ${service.port}${statistic}` +
          ` -m comment --comment ${service.name} -j DNAT --to-destination ${pod.ip}:${service.targetPort}`,
      );
    });
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

export class BaselineMesh implements Mesh {
  readonly name = 'baseline' as const;
  readonly path = 'client → service VIP (iptables DNAT on the node) → server';
  private ctx?: MeshContext;

  async install(ctx: MeshContext): Promise<void> {
    this.ctx = ctx;
    // kube-proxy runs on every node: a pod's connection is DNATed on its own node.
    for (const node of ctx.cluster.nodes) await ctx.cluster.iptablesRestore(node, renderServiceDnatRules(ctx.cluster.runId, ctx.services));
  }

  async attach(): Promise<void> {}

  components(): Component[] {
    return [];
  }

  /**
   * Connections DNATed per service: packet counts of the nat rules (nat sees a connection's
   * first packet only), per node (the first's keys unprefixed, the second's `node2/…`).
   */
  async pathCounters(): Promise<Record<string, number>> {
    const ctx = this.ctx!;
    const chain = chainName(ctx.cluster.runId, 'SERVICES');
    const counters: Record<string, number> = {};
    for (const node of ctx.cluster.nodes) {
      const prefix = node.index === 0 ? '' : `${node.name}/`;
      const r = await run('iptables', ['-t', 'nat', '-L', chain, '-n', '-v', '-x'], { netns: node.netns });
      for (const line of r.stdout.split('\n')) {
        const m = /^\s*(\d+)\s+\d+\s+DNAT.*\/\* (\S+) \*\//.exec(line);
        if (m) counters[`${prefix}dnat-connections:${m[2]}`] = (counters[`${prefix}dnat-connections:${m[2]}`] ?? 0) + Number(m[1]);
      }
    }
    return counters;
  }
}

export class BaselineKubeMesh implements KubeMesh {
  readonly name = 'baseline';
  readonly path = 'client → service VIP (kube-proxy iptables DNAT on the node) → server';
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

export const baseline: MeshModule<'baseline'> = {
  name: 'baseline',
  description: 'no mesh: client → service VIP → server, kube-proxy style iptables DNAT on the node',
  phrase: 'no mesh',
  colour: '#4c4c4c',
  requires: { local: ['iptables'], cluster: 'nothing', flavour: 'kube' },
  clusterNotes: (found, context) =>
    found.cilium ? [`baseline on context ${context} uses the cluster's own data path (Cilium ${found.cilium}), not kube-proxy`] : [],
  local: () => new BaselineMesh(),
  kube: () => new BaselineKubeMesh(),
};
