// kind cluster definitions: the files in kind-configs/ (one node, three nodes; each with a
// Cilium variant), or a user's own file, checked before anything is created. A user's file
// serves both flavours: the Cilium variant is the same file with the default CNI and
// kube-proxy switched off (exactly how the shipped *-cilium.yaml files differ from theirs).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { z } from 'zod';
import { InputError, type InputProblem } from '../../errors.ts';
import type { KindNodeCount } from '../../scenario/types.ts';
import type { ClusterFlavour } from './names.ts';

export const KIND_CONFIG_DIR = fileURLToPath(new URL('../../../kind-configs/', import.meta.url));
export const KIND_API_VERSION = 'kind.x-k8s.io/v1alpha4';

const KUBE_PROXY_MODES = ['iptables', 'ipvs', 'nftables', 'none'] as const;

/** The part of kind's Cluster type meshbench relies on; other keys pass through untouched. */
const kindConfigSchema = z.looseObject({
  kind: z.literal('Cluster', { error: (i) => `must be Cluster, got ${JSON.stringify(i.input)}` }),
  apiVersion: z.literal(KIND_API_VERSION, { error: (i) => `must be ${KIND_API_VERSION}, got ${JSON.stringify(i.input)}` }),
  networking: z
    .looseObject({
      disableDefaultCNI: z.boolean().optional(),
      kubeProxyMode: z.enum(KUBE_PROXY_MODES).optional(),
    })
    .optional(),
  nodes: z
    .array(
      z.looseObject({
        role: z.enum(['control-plane', 'worker']),
        image: z.string().optional(),
      }),
    )
    .min(1, { error: 'must list at least one node' }),
});

export type KindClusterConfig = z.infer<typeof kindConfigSchema>;

/** The shipped file for a shape and flavour, e.g. `kind-configs/three-nodes-cilium.yaml`. */
export function defaultKindConfigPath(nodes: KindNodeCount, flavour: ClusterFlavour): string {
  const shape = nodes === 1 ? 'one-node' : 'three-nodes';
  return `${KIND_CONFIG_DIR}${shape}${flavour === 'cilium' ? '-cilium' : ''}.yaml`;
}

/** Parses and checks a kind config; every problem with its path, or the config. */
export function parseKindConfig(text: string, source: string): KindClusterConfig {
  const document = YAML.parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new InputError(source, document.errors.map((e) => ({ path: '', message: `YAML syntax error: ${e.message.split('\n')[0]}` })));
  }
  const result = kindConfigSchema.safeParse(document.toJS());
  if (!result.success) {
    throw new InputError(
      source,
      result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
    );
  }
  const problems: InputProblem[] = [];
  const controlPlanes = result.data.nodes.filter((n) => n.role === 'control-plane').length;
  if (controlPlanes !== 1) problems.push({ path: 'nodes', message: `must have exactly one control-plane node, got ${controlPlanes}` });
  if (problems.length > 0) throw new InputError(source, problems);
  return result.data;
}

export function readKindConfig(path: string): KindClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InputError(path, [{ path: '', message: `cannot read the kind config: ${(error as Error).message}` }]);
  }
  return parseKindConfig(text, path);
}

/** Nodes that run workload: the workers, or the control plane of a one-node cluster. */
export function workloadNodeCount(config: KindClusterConfig): number {
  const workers = config.nodes.filter((n) => n.role === 'worker').length;
  return workers === 0 ? 1 : workers;
}

/** What a flavour demands of the cluster's networking. */
export function flavourProblems(config: KindClusterConfig, flavour: ClusterFlavour): InputProblem[] {
  const networking = config.networking ?? {};
  const problems: InputProblem[] = [];
  if (flavour === 'cilium') {
    if (networking.disableDefaultCNI !== true) {
      problems.push({ path: 'networking.disableDefaultCNI', message: 'must be true for Cilium (Cilium is the CNI)' });
    }
    if (networking.kubeProxyMode !== 'none') {
      problems.push({ path: 'networking.kubeProxyMode', message: `must be none for Cilium's kube-proxy replacement, got ${networking.kubeProxyMode ?? 'iptables (the default)'}` });
    }
  } else {
    if (networking.disableDefaultCNI === true) {
      problems.push({ path: 'networking.disableDefaultCNI', message: 'must not be true: the baseline and sidecar meshes use the default CNI (kindnet)' });
    }
    if (networking.kubeProxyMode === 'none') {
      problems.push({ path: 'networking.kubeProxyMode', message: 'must not be none: the baseline and sidecar meshes use kube-proxy' });
    }
  }
  return problems;
}

/** The config for a flavour: the Cilium variant switches the default CNI and kube-proxy off. */
export function flavourVariant(config: KindClusterConfig, flavour: ClusterFlavour): KindClusterConfig {
  const copy = structuredClone(config);
  const networking = { ...(copy.networking ?? {}) };
  if (flavour === 'cilium') {
    networking.disableDefaultCNI = true;
    networking.kubeProxyMode = 'none';
  } else {
    delete networking.disableDefaultCNI;
    networking.kubeProxyMode = networking.kubeProxyMode === 'none' || networking.kubeProxyMode === undefined ? 'iptables' : networking.kubeProxyMode;
  }
  copy.networking = networking;
  return copy;
}

export interface KindConfigChoice {
  /** The file kind reads: a shipped one, or the derived variant of the user's in the run directory. */
  path?: string;
  /** Set when the config is derived (the caller writes it to the run directory first). */
  text?: string;
  config: KindClusterConfig;
}

/**
 * The kind config for one flavour of a run: the shipped file for the shape, or the user's
 * own file turned into the flavour's variant. Throws InputError if a user's file has the
 * wrong shape for `nodes` (one node, or two workers).
 */
export function chooseKindConfig(settings: { nodes: KindNodeCount; config?: string }, flavour: ClusterFlavour): KindConfigChoice {
  if (settings.config === undefined) {
    const path = defaultKindConfigPath(settings.nodes, flavour);
    return { path, config: readKindConfig(path) };
  }
  const own = readKindConfig(settings.config);
  const workloadNodes = workloadNodeCount(own);
  const wanted = settings.nodes === 1 ? 1 : 2;
  if (workloadNodes !== wanted) {
    throw new InputError(settings.config, [
      { path: 'nodes', message: `has ${workloadNodes} node(s) for workload, but the scenario says kind.nodes: ${settings.nodes} (${wanted} workload node(s))` },
    ]);
  }
  const variant = flavourVariant(own, flavour);
  return { text: `# Derived by meshbench from ${settings.config} for the ${flavour} flavour.\n${YAML.stringify(variant)}`, config: variant };
}
