// The clusters of a run. Before anything: `prepare` checks the host and the scenario
// (tools and their versions, kind configs, an existing cluster's nodes and meshes) and
// throws, creating nothing, when something is missing. Then `provision` creates what the
// run needs — kind: one cluster per flavour (kube for baseline/sidecar, cilium for
// ebpf/ebpf-l4), the meshes' control planes, the project's image loaded into the nodes;
// kubernetes: nothing, the existing cluster as it is — and `teardown` removes it again.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1DaemonSet, V1Deployment, V1Node } from '@kubernetes/client-node';
import YAML from 'yaml';
import { HostError, InputError } from '../../errors.ts';
import { meshbenchVersion } from '../../results/environment.ts';
import type { MeshName, Placement, Scenario } from '../../scenario/types.ts';
import {
  ciliumHelmValues, ciliumInstall, commandLine, dockerBuild, dockerImageInspect, istioctlInstall,
  kindCreateCluster, kindDeleteCluster, kindLoadImage, runCommand, type Command,
} from './commands.ts';
import { chooseKindConfig, flavourProblems, type KindConfigChoice } from './kindConfig.ts';
import { KubeClient, isNotFound } from './kube.ts';
import { meshModule } from '../../mesh/index.ts';
import { CILIUM_NAMESPACE } from '../../mesh/cilium.ts';
import type { ClusterMeshesFound } from '../../mesh/types.ts';
import { kindClusterName, type ClusterFlavour } from './names.ts';
import type { KubeStateFile } from './state.ts';
import { allToolStatus, missingTools, toolLabel, toolsNeeded, type KubeTool, type ToolStatus } from './tools.ts';
import { PINNED_VERSIONS, meshVersions } from './versions.ts';
import { daemonSetsReady, deploymentsAvailable, nodesReady } from './waits.ts';

/** Where the cells of a mesh run: a kind flavour's cluster, or the one existing cluster. */
export type ClusterKey = ClusterFlavour | 'existing';

export interface CellNodes {
  client: string;
  server: string;
}

export interface ClusterHandle {
  key: ClusterKey;
  /** kind cluster name, or the kubeconfig context. */
  name: string;
  kube: KubeClient;
  nodes: CellNodes;
  /** What runs there, as found on the cluster (recorded in result.json). */
  versions: Record<string, string>;
  notes: string[];
}

export interface KubePlan {
  scenario: Scenario;
  platform: 'kind' | 'kubernetes';
  image: string;
  /** kind without an `image:`: build it from the Dockerfile. */
  buildImage: boolean;
  tools: Record<KubeTool, ToolStatus>;
  /** kind: the config of each flavour the meshes need. */
  kindConfigs: Partial<Record<ClusterFlavour, KindConfigChoice>>;
  nodeImage: string;
  /** The Istio and Cilium versions to install (kind) or expect (kubernetes). */
  meshVersions: { istio: string; cilium: string };
  /** platform kubernetes: the existing cluster, already checked. */
  existing?: ClusterHandle;
}

export function clusterKeyOf(platform: 'kind' | 'kubernetes', mesh: MeshName): ClusterKey {
  return platform === 'kubernetes' ? 'existing' : meshModule(mesh).requires.flavour;
}

/** The flavours a kind run creates, in creation order. */
export function flavoursFor(meshes: readonly MeshName[]): ClusterFlavour[] {
  const wanted = new Set(meshes.map((m) => meshModule(m).requires.flavour));
  return (['kube', 'cilium'] as const).filter((f) => wanted.has(f));
}

/** Whether a mesh of these runs on Istio (a kind run installs it with istioctl). */
function needsIstio(meshes: readonly MeshName[]): boolean {
  return meshes.some((m) => meshModule(m).requires.cluster === 'istio');
}

// ---------------------------------------------------------------------------------------
// Nodes

function schedulable(node: V1Node): boolean {
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const tainted = (node.spec?.taints ?? []).some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  return ready && !node.spec?.unschedulable && !tainted;
}

/**
 * The nodes a cell uses: the schedulable nodes by name; same-node puts client and servers
 * on the first, cross-node the client on the first and the servers on the second.
 */
export function pickNodes(nodes: readonly V1Node[], placement: Placement): CellNodes {
  const names = nodes.filter(schedulable).map((n) => n.metadata!.name!).sort();
  if (names.length === 0) throw new HostError('no schedulable node (Ready, without NoSchedule/NoExecute taints) in the cluster');
  if (placement === 'same-node') return { client: names[0]!, server: names[0]! };
  if (names.length < 2) throw new HostError(`placement cross-node needs two schedulable nodes, the cluster has one (${names[0]})`);
  return { client: names[0]!, server: names[1]! };
}

// ---------------------------------------------------------------------------------------
// Versions found on a cluster

/** `docker.io/istio/pilot:1.24.2`, `quay.io/cilium/cilium:v1.16.5@sha256:…` → `1.24.2`, `1.16.5`. */
export function imageVersion(image: string | undefined): string | undefined {
  return image ? /:v?(\d+\.\d+\.\d+)(?:[-@]|$)/.exec(image)?.[1] : undefined;
}

async function readDeployment(kube: KubeClient, namespace: string, name: string): Promise<V1Deployment | undefined> {
  try {
    return await kube.objects.read<V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace } });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function readDaemonSet(kube: KubeClient, namespace: string, name: string): Promise<V1DaemonSet | undefined> {
  try {
    return await kube.objects.read<V1DaemonSet>({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name, namespace } });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

type MeshesFound = ClusterMeshesFound;

async function findMeshes(kube: KubeClient): Promise<MeshesFound> {
  const istiod = await readDeployment(kube, 'istio-system', 'istiod');
  const cilium = await readDaemonSet(kube, CILIUM_NAMESPACE, 'cilium');
  const envoy = await readDaemonSet(kube, CILIUM_NAMESPACE, 'cilium-envoy');
  let ciliumConfig: Record<string, string> | undefined;
  if (cilium) {
    try {
      ciliumConfig = (await kube.core.readNamespacedConfigMap({ name: 'cilium-config', namespace: CILIUM_NAMESPACE })).data ?? {};
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  const found: MeshesFound = { ciliumEnvoy: envoy !== undefined };
  const istioVersion = istiod ? (imageVersion(istiod.spec?.template.spec?.containers[0]?.image) ?? 'unknown') : undefined;
  const ciliumVersion = cilium ? (imageVersion(cilium.spec?.template.spec?.containers[0]?.image) ?? 'unknown') : undefined;
  if (istioVersion) found.istio = istioVersion;
  if (ciliumVersion) found.cilium = ciliumVersion;
  if (ciliumConfig) found.ciliumConfig = ciliumConfig;
  return found;
}

/** What an existing cluster lacks for the scenario's meshes (empty when it has everything). */
export function meshGaps(meshes: readonly MeshName[], found: MeshesFound, expected: { istio?: string; cilium?: string }): string[] {
  const gaps: string[] = [];
  const needs = new Set(meshes.map((m) => meshModule(m).requires.cluster));
  if (needs.has('istio')) {
    if (!found.istio) gaps.push('the sidecar mesh needs Istio: no istio-system/istiod Deployment');
    else if (expected.istio && found.istio !== expected.istio) gaps.push(`versions.istio is ${expected.istio}, the cluster runs Istio ${found.istio}`);
  }
  if (needs.has('cilium') || needs.has('cilium-l7')) {
    if (!found.cilium) gaps.push(`the ebpf meshes need Cilium as the CNI: no ${CILIUM_NAMESPACE}/cilium DaemonSet`);
    else {
      if (expected.cilium && found.cilium !== expected.cilium) gaps.push(`versions.cilium is ${expected.cilium}, the cluster runs Cilium ${found.cilium}`);
      const kpr = found.ciliumConfig?.['kube-proxy-replacement'];
      if (kpr !== undefined && kpr !== 'true' && kpr !== 'strict') {
        gaps.push(`the ebpf meshes need Cilium's kube-proxy replacement: cilium-config has kube-proxy-replacement=${kpr}`);
      }
      if (needs.has('cilium-l7') && found.ciliumConfig?.['enable-l7-proxy'] === 'false') {
        gaps.push('the ebpf mesh needs Cilium\'s L7 proxy: cilium-config has enable-l7-proxy=false');
      }
    }
  }
  return gaps;
}

// ---------------------------------------------------------------------------------------
// Before anything is created

function missingToolsMessage(platform: string, missing: ReturnType<typeof missingTools>): string {
  const lines = missing.map((m) => `  ${toolLabel(m.tool)} (${m.why}): ${m.detail}`);
  return [
    `cannot run platform ${platform} on this host, nothing was created. Missing:`,
    ...lines,
    `Install them (versions pinned in harness/platform/kubernetes/versions.ts: kind ${PINNED_VERSIONS.kind}, istioctl ${PINNED_VERSIONS.istio}, cilium CLI ${PINNED_VERSIONS.ciliumCli}); \`meshbench doctor\` lists what this host has.`,
  ].join('\n');
}

/**
 * Checks everything a kind/kubernetes run needs before it creates anything; throws
 * HostError (exit 1) naming what is missing, or InputError (exit 2) for bad files.
 */
export async function prepare(scenario: Scenario, tools?: Record<KubeTool, ToolStatus>): Promise<KubePlan> {
  const platform = scenario.platform;
  if (platform === 'local' || !scenario.cluster) throw new Error('prepare() is for the kind and kubernetes platforms');
  const settings = scenario.cluster;
  const status = tools ?? (await allToolStatus());
  const versions = meshVersions(settings.versions);
  const plan: KubePlan = {
    scenario,
    platform,
    image: settings.image ?? `meshbench:${meshbenchVersion()}`,
    buildImage: platform === 'kind' && settings.image === undefined,
    tools: status,
    kindConfigs: {},
    nodeImage: settings.kind?.nodeImage ?? PINNED_VERSIONS.kindNodeImage,
    meshVersions: versions,
  };

  if (platform === 'kind') {
    const missing = missingTools(toolsNeeded('kind', scenario.meshes), status);
    if (missing.length > 0) throw new HostError(missingToolsMessage('kind', missing));
    if (needsIstio(scenario.meshes)) {
      const istioctl = /(\d+\.\d+\.\d+)/.exec(status.istioctl.detail)?.[1] ?? status.istioctl.detail;
      if (istioctl !== versions.istio) {
        throw new HostError(
          `the sidecar mesh installs Istio ${versions.istio} with istioctl, but istioctl here is ${istioctl}: istioctl installs its own version; put istioctl ${versions.istio} on PATH (or set versions.istio: ${istioctl} in the scenario). Nothing was created.`,
        );
      }
    }
    for (const flavour of flavoursFor(scenario.meshes)) {
      const choice = chooseKindConfig(settings.kind ?? { nodes: 1 }, flavour);
      const problems = flavourProblems(choice.config, flavour);
      if (problems.length > 0) throw new InputError(choice.path ?? settings.kind?.config ?? 'kind config', problems);
      plan.kindConfigs[flavour] = choice;
    }
    if (!plan.buildImage) {
      const inspect = await runCommand(dockerImageInspect(plan.image), { allowFailure: true });
      if (inspect.exitCode !== 0) {
        throw new HostError(`image ${plan.image} (the scenario's image:) is not in the local docker engine; build it with \`docker build -t ${plan.image} .\` or drop image: to let meshbench build it. Nothing was created.`);
      }
    }
    return plan;
  }

  // platform kubernetes: an existing cluster, checked read-only.
  const context = settings.context!;
  const kube = KubeClient.forContext(context);
  let serverVersion: string;
  try {
    serverVersion = await kube.serverVersion();
  } catch (error) {
    throw new HostError(`cannot reach the cluster of context "${context}": ${(error as Error).message}. Nothing was created.`);
  }
  const nodes = (await kube.core.listNode()).items;
  const cellNodes = pickNodes(nodes, settings.placement);
  const found = await findMeshes(kube);
  const gaps = meshGaps(scenario.meshes, found, settings.versions);
  if (gaps.length > 0) {
    throw new HostError(
      `the cluster of context "${context}" cannot run this scenario (meshbench installs nothing on an existing cluster), nothing was created:\n  ${gaps.join('\n  ')}`,
    );
  }
  const clusterVersions: Record<string, string> = { kubernetes: serverVersion };
  if (found.istio) clusterVersions.istio = found.istio;
  if (found.cilium) clusterVersions.cilium = found.cilium;
  const notes = scenario.meshes.flatMap((m) => meshModule(m).clusterNotes?.(found, context) ?? []);
  plan.existing = { key: 'existing', name: context, kube, nodes: cellNodes, versions: clusterVersions, notes };
  return plan;
}

// ---------------------------------------------------------------------------------------
// Provisioning (kind)

export interface ProvisionContext {
  runId: string;
  runDir: string;
  state: KubeStateFile;
  signal: AbortSignal;
  /** Progress lines (stderr) and the run's commands.log. */
  log: (line: string) => void;
}

async function step(ctx: ProvisionContext, command: Command): Promise<void> {
  if (ctx.signal.aborted) throw new Error('aborted');
  ctx.log(`$ ${commandLine(command)}`);
  await runCommand(command);
}

/** Builds the image from the Dockerfile (kind runs without `image:`). */
export async function buildImage(plan: KubePlan, ctx: ProvisionContext): Promise<void> {
  if (plan.buildImage) await step(ctx, dockerBuild(plan.image));
}

/** Creates one kind cluster of a flavour, installs its mesh, loads the image; returns it ready. */
export async function provisionKind(plan: KubePlan, flavour: ClusterFlavour, ctx: ProvisionContext): Promise<ClusterHandle> {
  const name = kindClusterName(ctx.runId, flavour);
  const kubeconfig = join(ctx.runDir, `kubeconfig-${flavour}`);
  const choice = plan.kindConfigs[flavour]!;
  let configPath = choice.path;
  if (configPath === undefined) {
    configPath = join(ctx.runDir, `kind-${flavour}.yaml`);
    writeFileSync(configPath, choice.text!);
  }
  const settings = plan.scenario.cluster!;
  const nodeCount = choice.config.nodes.length;
  const timeoutMs = 10 * 60_000;
  const wait = { timeoutMs, signal: ctx.signal };

  // Registered first: a run killed during `kind create` still gets its cluster deleted.
  ctx.state.addKindCluster(name, kubeconfig);
  await step(ctx, kindCreateCluster({ name, configPath, nodeImage: plan.nodeImage, kubeconfig }));
  const kube = KubeClient.forContext(`kind-${name}`, kubeconfig);
  const versions: Record<string, string> = {
    kubernetes: await kube.serverVersion(),
    kind: plan.tools.kind.detail,
    kindNodeImage: plan.nodeImage,
  };

  if (flavour === 'cilium') {
    const valuesFile = join(ctx.runDir, 'cilium-values.yaml');
    writeFileSync(valuesFile, YAML.stringify(ciliumHelmValues({ clusterName: name })));
    await step(ctx, ciliumInstall({ kubeconfig, version: plan.meshVersions.cilium, valuesFile }));
    for (const daemonSet of ['cilium', 'cilium-envoy']) {
      await kube.waitFor<V1DaemonSet>('DaemonSet', { namespace: CILIUM_NAMESPACE, fieldSelector: `metadata.name=${daemonSet}` }, daemonSetsReady(1), {
        what: `DaemonSet ${CILIUM_NAMESPACE}/${daemonSet}`,
        ...wait,
      });
    }
    await kube.waitFor<V1Deployment>('Deployment', { namespace: CILIUM_NAMESPACE, fieldSelector: 'metadata.name=cilium-operator' }, deploymentsAvailable(1), {
      what: 'the Cilium operator',
      ...wait,
    });
    versions.cilium = plan.meshVersions.cilium;
    versions.ciliumCli = plan.tools.cilium.detail;
  }
  // A Cilium cluster's nodes turn Ready once the agents run; kindnet's right away.
  await kube.waitFor<V1Node>('Node', {}, nodesReady(nodeCount), { what: `the ${nodeCount} node(s) of ${name} to be Ready`, ...wait });

  const flavourMeshes = plan.scenario.meshes.filter((m) => meshModule(m).requires.flavour === flavour);
  if (needsIstio(flavourMeshes)) {
    const profile = flavourMeshes.some((m) => meshModule(m).requires.istioProfile === 'ambient') ? 'ambient' : 'minimal';
    await step(ctx, istioctlInstall({ kubeconfig, version: plan.meshVersions.istio, profile }));
    await kube.waitFor<V1Deployment>('Deployment', { namespace: 'istio-system', fieldSelector: 'metadata.name=istiod' }, deploymentsAvailable(1), {
      what: 'istiod',
      ...wait,
    });
    versions.istio = plan.meshVersions.istio;
  }
  await step(ctx, kindLoadImage({ image: plan.image, cluster: name }));
  const nodes = pickNodes((await kube.core.listNode()).items, settings.placement);
  return { key: flavour, name, kube, nodes, versions, notes: [] };
}

/** Deletes a run's kind cluster (idempotent: kind says nothing of a cluster that is not there). */
export async function deleteKindCluster(name: string, kubeconfig: string | undefined, ctx: Pick<ProvisionContext, 'log' | 'state'>): Promise<void> {
  const command = kindDeleteCluster({ name, ...(kubeconfig ? { kubeconfig } : {}) });
  ctx.log(`$ ${commandLine(command)}`);
  await runCommand(command);
  ctx.state.removeKindCluster(name);
}

