// One interface per data path on Kubernetes, as harness/mesh/types.ts is on the local
// platform: a mesh says which cluster flavour it runs on, how a cell's namespace is
// labelled, which objects it adds to the cell (typed, validated before apply), which of
// the cell's processes are its own (for CPU and probes), and which counters prove that
// requests took its path.
import type { MeshName } from '../../../scenario/types.ts';
import type { Manifest } from '../manifests.ts';
import type { ClusterFlavour } from '../names.ts';

export interface MeshManifestContext {
  namespace: string;
  /** Labels every object of the cell carries (run, cell, managed-by). */
  labels: Record<string, string>;
  /** Pod label selecting the cell's server pods / client pod. */
  serverSelector: Record<string, string>;
  clientSelector: Record<string, string>;
  appPort: number;
}

/** A container the harness watches, found by pod label and container name. */
export interface MeshContainer {
  /** Component role, as on the local platform. */
  role: 'client-sidecar' | 'server-sidecar' | 'node-proxy';
  /** Where to find the pods: the cell's namespace, or a system namespace (node proxy). */
  namespace: 'cell' | string;
  labelSelector: string;
  container: string;
}

/** A Prometheus counter on some pods' metrics port whose increase over the cell proves the path. */
export interface PathCounter {
  /** Name in the cell's `path` record, e.g. `server-sidecar.requests`. */
  name: string;
  namespace: 'cell' | string;
  labelSelector: string;
  /** Only pods on the servers' node (node proxies). */
  serversNodeOnly: boolean;
  port: number;
  path: string;
  /** Metric name and label matchers; matching samples are summed. */
  metric: string;
  labels: Record<string, string>;
}

export interface KubeMesh {
  readonly name: MeshName;
  /** The request path, for reports. */
  readonly path: string;
  readonly flavour: ClusterFlavour;
  /** What the cluster must have for this mesh (checked before a run on an existing cluster). */
  readonly requires: 'nothing' | 'istio' | 'cilium' | 'cilium-l7';
  namespaceLabels(): Record<string, string>;
  objects(ctx: MeshManifestContext): Manifest[];
  containers(): MeshContainer[];
  pathCounters(): PathCounter[];
  /** Notes for the cell result: what the data path did (and did not) do. */
  notes(): string[];
}
