// baseline: no mesh. kube-proxy-style iptables DNAT from each VIP to its backend pods, in
// the node netns (nat PREROUTING). Pod routes are /32 veths through the node, so replies
// pass back through the node's conntrack and are un-NATed there.
import { run } from '../exec.ts';
import { chainName } from '../platform/local/names.ts';
import type { Component, Mesh, MeshContext, Service } from './types.ts';

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
    await ctx.cluster.iptablesRestore(ctx.cluster.node, renderServiceDnatRules(ctx.cluster.runId, ctx.services));
  }

  async attach(): Promise<void> {}

  components(): Component[] {
    return [];
  }

  /** Connections DNATed per service: packet counts of the nat rules (nat sees a connection's first packet only). */
  async pathCounters(): Promise<Record<string, number>> {
    const ctx = this.ctx!;
    const chain = chainName(ctx.cluster.runId, 'SERVICES');
    const r = await run('iptables', ['-t', 'nat', '-L', chain, '-n', '-v', '-x'], { netns: ctx.cluster.node.netns });
    const counters: Record<string, number> = {};
    for (const line of r.stdout.split('\n')) {
      const m = /^\s*(\d+)\s+\d+\s+DNAT.*\/\* (\S+) \*\//.exec(line);
      if (m) counters[`dnat-connections:${m[2]}`] = (counters[`dnat-connections:${m[2]}`] ?? 0) + Number(m[1]);
    }
    return counters;
  }
}
