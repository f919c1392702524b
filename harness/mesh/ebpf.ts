// ebpf: Cilium-style socket-level load balancing to one per-node proxy. A cgroup/connect4
// program attached to the run's cgroup rewrites VIP:port to the node proxy's per-service
// listener (the VIP is lost at that point, so each service gets its own port), and
// getpeername4 gives the client back the VIP. No iptables rules anywhere. Path:
// client → node proxy → server.
import { bpfPinDir } from '../platform/local/names.ts';
import type { RunningProxy } from '../proxy/types.ts';
import { loadSockLb, type SockLb, type SockLbService } from './sockLb.ts';
import { serviceRoutes } from './sidecar.ts';
import { NODE_PROXY_PORT_BASE, type Component, type Mesh, type MeshContext } from './types.ts';

/** Attaches the socket LB to the run's cgroup with the given VIP → backend map; registered before creation. */
export async function installSockLb(ctx: MeshContext, services: SockLbService[]): Promise<SockLb> {
  const pinDir = bpfPinDir(ctx.cluster.runId, 'socklb');
  const cgroupDir = ctx.cluster.cgroupV2Root;
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
  private nodeProxy?: RunningProxy;
  private lb?: SockLb;
  private ctx?: MeshContext;

  async install(ctx: MeshContext): Promise<void> {
    this.ctx = ctx;
    const listeners = serviceRoutes(ctx.services).map((route, i) => ({
      listenPort: NODE_PROXY_PORT_BASE + ctx.services[i]!.index,
      route,
    }));
    this.nodeProxy = await ctx.proxy.start(
      ctx.cluster,
      ctx.cluster.node,
      { id: 'node-proxy', perService: { bindIp: ctx.cluster.node.ip, listeners } },
      {},
    );
    this.lb = await installSockLb(
      ctx,
      ctx.services.map((s) => ({
        vip: s.vip,
        port: s.port,
        backends: [{ ip: ctx.cluster.node.ip, port: NODE_PROXY_PORT_BASE + s.index }],
      })),
    );
  }

  async attach(): Promise<void> {}

  components(): Component[] {
    if (!this.nodeProxy || !this.ctx) return [];
    const node = this.ctx.cluster.node;
    return [{ id: 'node/node-proxy', role: 'node-proxy', pod: 'node', pid: this.nodeProxy.process.pid, cgroupV2: node.cgroupV2 }];
  }

  async pathCounters(): Promise<Record<string, number>> {
    const stats = await this.nodeProxy!.stats();
    const counters: Record<string, number> = await rewriteCounters(this.lb!);
    for (const [listener, count] of Object.entries(stats.requestsByListener)) counters[`node-proxy:${listener}`] = count;
    return counters;
  }
}
