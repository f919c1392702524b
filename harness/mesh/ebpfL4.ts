// ebpf-l4: Cilium's kube-proxy replacement at L3/L4 only. The same cgroup/connect4 socket
// LB, but the BPF map sends VIP:port straight to a backend pod (random choice among the
// endpoints). No proxy, no iptables. Path: client → server.
import type { SockLb } from './sockLb.ts';
import { installSockLb, rewriteCounters } from './ebpf.ts';
import type { Component, Mesh, MeshContext } from './types.ts';

export class EbpfL4Mesh implements Mesh {
  readonly name = 'ebpf-l4' as const;
  readonly path = 'client → server (eBPF cgroup/connect4 rewrites the VIP to a backend pod)';
  private lb?: SockLb;

  async install(ctx: MeshContext): Promise<void> {
    this.lb = await installSockLb(
      ctx,
      ctx.services.map((s) => ({
        vip: s.vip,
        port: s.port,
        backends: s.endpoints.map((pod) => ({ ip: pod.ip, port: s.targetPort })),
      })),
    );
  }

  async attach(): Promise<void> {}

  components(): Component[] {
    return [];
  }

  async pathCounters(): Promise<Record<string, number>> {
    return rewriteCounters(this.lb!);
  }
}
