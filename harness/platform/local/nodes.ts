// Two nodes on one host (scenario `nodes: 2`): a second node network namespace beside the
// first, joined to it by one veth pair, "the wire". Each node holds its own address on its
// lo (198.18.0.1, 198.18.0.2), the pods' next hop 169.254.1.1 and /32 routes to its own
// pods; a pod on the other node is routed over the wire to that node's address (onlink),
// and the other node routes it on to the pod. No NAT anywhere: a packet crosses the wire
// with the pods' own addresses, as between two Calico nodes with BGP-learned routes and no
// overlay. The wire's MTU is stated (WIRE_MTU, the pods' veths have the same default), so
// nothing is fragmented or clamped on the way.
//
// What this models and what it does not: the extra node hop — a second network stack, a
// second forwarding decision, a veth crossing, a second node's conntrack/netfilter, the
// other node's proxy where a data path has one per node. It does not model a real link's
// latency, bandwidth, NIC, interrupts or a second kernel: both nodes share this host's
// kernel and CPUs (the pods of both nodes run on the pod CPUs, the driver on its own).
//
// Cgroups: with two nodes each node's pods live under their own cgroup v2 directory
// (`<run>/node-pods/<pod>`, `<run>/node2-pods/<pod>`), so a per-node eBPF socket LB
// attached there sees exactly that node's pods; with one node pods sit under `<run>/` as
// before.
import { run } from '../../exec.ts';
import { NODE_IP, cgroupV1MemoryDir, cgroupV2Dir, netnsName, nodeNetns } from './names.ts';

/** Node counts the local platform builds. */
export const LOCAL_NODE_COUNTS = [1, 2] as const;
export type LocalNodeCount = (typeof LOCAL_NODE_COUNTS)[number];

/** MTU of the wire between the nodes (the veths' default, stated so every report can say it). */
export const WIRE_MTU = 1500;

/** A node: its netns, its address, the cgroups of its own processes and of its pods. */
export interface NodeHost {
  /** `node` (the first, as before two nodes existed), `node2`. */
  name: string;
  /** 0-based. */
  index: number;
  ip: string;
  netns: string;
  cgroupV2: string;
  cgroupV1Memory: string;
  /** The cgroup v2 directory under which this node's pods' cgroups are (the run's with one node). */
  podsCgroupV2: string;
}

export const nodeName = (index: number): string => (index === 0 ? 'node' : `node${index + 1}`);

/** Node n (0-based) has 198.18.0.(n + 1). */
export const nodeIp = (index: number): string => (index === 0 ? NODE_IP : `198.18.0.${index + 1}`);

/** The nodes of a run's cluster. */
export function nodeHosts(runId: string, count: number): NodeHost[] {
  return Array.from({ length: count }, (_, index) => {
    const name = nodeName(index);
    return {
      name,
      index,
      ip: nodeIp(index),
      netns: index === 0 ? nodeNetns(runId) : netnsName(runId, name),
      cgroupV2: cgroupV2Dir(runId, name),
      cgroupV1Memory: cgroupV1MemoryDir(runId, name),
      podsCgroupV2: count === 1 ? cgroupV2Dir(runId) : cgroupV2Dir(runId, `${name}-pods`),
    };
  });
}

/** A pod's cgroup v2 directory on its node. */
export function podCgroupV2(node: NodeHost, pod: string): string {
  return `${node.podsCgroupV2}/${pod}`;
}

/** The wire's end in node n's netns (≤ 15 characters). */
export const wireName = (runId: string, index: number): string => `mb${runId}w${index + 1}`;

/**
 * Joins node 0 and node 1 by the wire: a veth pair, one end in each node netns, each node's
 * address reachable over it (a /32 route, onlink; ARP answers for the address on lo).
 * The namespaces go with their veths, so the wire needs no cleanup entry of its own.
 */
export async function joinNodes(runId: string, nodes: readonly NodeHost[]): Promise<void> {
  if (nodes.length !== 2) throw new RangeError(`the wire joins two nodes, got ${nodes.length}`);
  const [a, b] = nodes as [NodeHost, NodeHost];
  const [wireA, wireB] = [wireName(runId, 0), wireName(runId, 1)];
  await run('ip', ['-n', a.netns, '-batch', '-'], {
    input: [
      `link add ${wireA} mtu ${WIRE_MTU} type veth peer name ${wireB} netns ${b.netns}`,
      `link set ${wireA} up`,
      `route add ${b.ip}/32 dev ${wireA} scope link src ${a.ip}`,
    ].join('\n') + '\n',
  });
  await run('ip', ['-n', b.netns, '-batch', '-'], {
    input: [`link set ${wireB} mtu ${WIRE_MTU} up`, `route add ${a.ip}/32 dev ${wireB} scope link src ${b.ip}`].join('\n') + '\n',
  });
}

/** `ip route` commands on `node` for pods living on other nodes: each /32 over the wire to its node. */
export function remotePodRoutes(runId: string, node: NodeHost, pods: ReadonlyArray<{ ip: string; node: NodeHost }>): string[] {
  return pods
    .filter((pod) => pod.node.index !== node.index)
    .map((pod) => `route add ${pod.ip}/32 via ${pod.node.ip} dev ${wireName(runId, node.index)} onlink`);
}

export interface WireCounters {
  /** Bytes and packets node → node2 and node2 → node, as the wire's end in the first node counts them. */
  [key: string]: number;
}

/**
 * The wire's own counters (the kernel's link statistics of its end in the first node): what
 * crossed between the nodes over the cell, every packet of every connection between them.
 */
export async function wireCounters(runId: string, nodes: readonly NodeHost[]): Promise<WireCounters> {
  if (nodes.length < 2) return {};
  const [a, b] = nodes as [NodeHost, NodeHost];
  const r = await run('ip', ['-n', a.netns, '-j', '-s', 'link', 'show', 'dev', wireName(runId, 0)]);
  const [link] = JSON.parse(r.stdout) as Array<{ mtu: number; stats64: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } }>;
  const { rx, tx } = link!.stats64;
  return {
    [`wire:${a.name}→${b.name}:bytes`]: tx.bytes,
    [`wire:${a.name}→${b.name}:packets`]: tx.packets,
    [`wire:${b.name}→${a.name}:bytes`]: rx.bytes,
    [`wire:${b.name}→${a.name}:packets`]: rx.packets,
    'wire:mtu': link!.mtu,
  };
}
