// ebpf-l4: Cilium's kube-proxy replacement at L3/L4 only. The same cgroup/connect4 socket
// LB, but the BPF map sends VIP:port straight to a backend pod (random choice among the
// endpoints). No proxy, no iptables. Path: client → server.
//
// On Kubernetes: Cilium's eBPF data path alone (kube-proxy replacement: the service VIP is
// resolved at connect() by the socket LB), no L7 policy, so no proxy on the path. The L7
// counter is read to show it stays at zero.
import type { Manifest } from '../platform/kubernetes/manifests.ts';
import { CILIUM_MTLS_NOT_YET, CiliumKubeMesh } from './cilium.ts';
import type { SockLb } from './sockLb.ts';
import { installSockLb, rewriteCounters } from './ebpf.ts';
import type { Component, Mesh, MeshContext, MeshModule } from './types.ts';

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

export class EbpfL4KubeMesh extends CiliumKubeMesh {
  readonly name = 'ebpf-l4';
  readonly path = 'client → (eBPF socket LB rewrites the VIP at connect) → server';
  objects(): Manifest[] {
    return [];
  }
}

export const ebpfL4: MeshModule<'ebpf-l4'> = {
  name: 'ebpf-l4',
  description: 'eBPF socket-level load balancing straight to the backend, no proxy: client → server (as Cilium, L4 only)',
  phrase: 'the eBPF L4 path (no proxy)',
  colour: '#66a182',
  requires: {
    local: ['bpf-objects'],
    cluster: 'cilium',
    flavour: 'cilium',
    kindTool: { tool: 'cilium', why: 'installs Cilium for the ebpf meshes' },
    // mtls: node-to-node encryption (Cilium's WireGuard or IPsec); this host's kernel may lack both.
    mtlsLocal: ['kernel-encryption'],
    mtlsCluster: CILIUM_MTLS_NOT_YET,
  },
  local: () => new EbpfL4Mesh(),
  kube: () => new EbpfL4KubeMesh(),
};
