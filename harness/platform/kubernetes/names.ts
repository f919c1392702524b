// Names and labels of everything the kind and kubernetes platforms create. Every object
// carries the run id in a label (and kind clusters in their name), so `meshbench clean`
// finds what a killed run left, and two runs never touch each other's objects.

/** Label on every object a run creates: its run id. */
export const RUN_LABEL = 'meshbench.io/run';
/** Label on every object of one cell: the cell id (e.g. `sidecar-http1-s10-r2`). */
export const CELL_LABEL = 'meshbench.io/cell';
/** Label on workload pods: what part they play (client, server, probes). */
export const ROLE_LABEL = 'meshbench.io/role';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'meshbench';
/** Server-side apply field manager: the API server records meshbench as the owner of its fields. */
export const FIELD_MANAGER = 'meshbench';

/**
 * Cluster flavours a kind run creates: `kube` (kindnet CNI + kube-proxy in iptables mode:
 * baseline and sidecar) and `cilium` (no default CNI, no kube-proxy: ebpf and ebpf-l4).
 */
export const CLUSTER_FLAVOURS = ['kube', 'cilium'] as const;
export type ClusterFlavour = (typeof CLUSTER_FLAVOURS)[number];

export const KIND_CLUSTER_PREFIX = 'meshbench-';

/** `meshbench-<run>-<flavour>`; node containers add `-control-plane`, `-worker2` (≤ 63 characters). */
export function kindClusterName(runId: string, flavour: ClusterFlavour): string {
  return `${KIND_CLUSTER_PREFIX}${runId}-${flavour}`;
}

/** The run id and flavour of a cluster named by kindClusterName, or undefined for any other name. */
export function parseKindClusterName(name: string): { runId: string; flavour: ClusterFlavour } | undefined {
  const match = /^meshbench-([0-9a-z]{5})-(kube|cilium)$/.exec(name);
  return match ? { runId: match[1]!, flavour: match[2] as ClusterFlavour } : undefined;
}

/** The namespace of one cell: `mb-<run>-c<index>`; everything of the cell lives and dies with it. */
export function cellNamespace(runId: string, cellIndex: number): string {
  return `mb-${runId}-c${cellIndex}`;
}

/** Labels every object of a run carries. */
export function runLabels(runId: string): Record<string, string> {
  return { [RUN_LABEL]: runId, [MANAGED_BY_LABEL]: MANAGED_BY };
}

/** Label values are at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric. */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?$/.test(value);
}

/** Service (and Deployment) name of service n (1-based): `s<n>`, as on the local platform. */
export function serviceName(index: number): string {
  return `s${index}`;
}

export const LOAD_JOB_NAME = 'load-driver';
export const PROBES_NAME = 'meshbench-probes';
