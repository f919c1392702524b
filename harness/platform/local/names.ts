// Names and addresses of everything a local run creates. Every name carries the run id so
// two runs never collide and `meshbench clean` can find what a killed run left
// (DESIGN.md, "Host resources").
import { randomInt } from 'node:crypto';

export const RUN_ID_LENGTH = 5;
const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';

export function newRunId(): string {
  let id = '';
  for (let i = 0; i < RUN_ID_LENGTH; i++) id += BASE36[randomInt(36)];
  return id;
}

export const NETNS_PREFIX = 'mb-';
export const BPFFS_ROOT = '/sys/fs/bpf/meshbench';
export const CGROUP_V2_ROOT = '/sys/fs/cgroup/unified/meshbench';
export const CGROUP_V1_MEMORY_ROOT = '/sys/fs/cgroup/memory/meshbench';
/** Where live runs leave a pointer to their state file, so `clean` can tell a live run from a leftover. */
export const LIVE_RUNS_DIR = '/run/meshbench';

export const netnsName = (runId: string, pod: string): string => `${NETNS_PREFIX}${runId}-${pod}`;
export const nodeNetns = (runId: string): string => netnsName(runId, 'node');
/** Node-side end of a pod's veth: at most 15 characters (IFNAMSIZ - 1). */
export const vethName = (runId: string, podIndex: number): string => `mb${runId}p${podIndex}`;
/** iptables chain names: at most 28 characters. */
export const chainName = (runId: string, suffix: string): string => `MB-${runId}-${suffix}`.slice(0, 28);
export const cgroupV2Dir = (runId: string, pod?: string): string =>
  pod ? `${CGROUP_V2_ROOT}/${runId}/${pod}` : `${CGROUP_V2_ROOT}/${runId}`;
export const cgroupV1MemoryDir = (runId: string, pod?: string): string =>
  pod ? `${CGROUP_V1_MEMORY_ROOT}/${runId}/${pod}` : `${CGROUP_V1_MEMORY_ROOT}/${runId}`;
export const bpfPinDir = (runId: string, what?: string): string =>
  what ? `${BPFFS_ROOT}/${runId}/${what}` : `${BPFFS_ROOT}/${runId}`;

/** The run id inside a resource name made by the functions above, or undefined. */
export function runIdOfNetns(name: string): string | undefined {
  const m = /^mb-([0-9a-z]{5})-/.exec(name);
  return m?.[1];
}

// ---- address plan (RFC 2544 benchmarking range; nothing leaves the host) ----

/** The node's own address (node proxy listeners live here). */
export const NODE_IP = '198.18.0.1';
/** Link-local next hop every pod routes through (as Calico's 169.254.1.1); the node holds it on its lo. */
export const POD_GATEWAY = '169.254.1.1';
export const POD_CIDR = '198.18.0.0/16';
export const SERVICE_CIDR = '198.19.0.0/16';

/** Pod n (0-based) gets 198.18.(1 + n/250).(1 + n%250). */
export function podIp(podIndex: number): string {
  if (podIndex < 0 || podIndex >= 250 * 254) throw new RangeError(`pod index ${podIndex} out of the address plan`);
  return `198.18.${1 + Math.floor(podIndex / 250)}.${1 + (podIndex % 250)}`;
}

/** Service n (1-based) gets the VIP 198.19.(n/256).(n%256). */
export function serviceVip(serviceIndex: number): string {
  if (serviceIndex < 1 || serviceIndex > 65_000) throw new RangeError(`service index ${serviceIndex} out of the address plan`);
  return `198.19.${Math.floor(serviceIndex / 256)}.${serviceIndex % 256}`;
}
