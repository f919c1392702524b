// kind and an existing cluster as a Platform:
//
//   prepare (before the run: nothing created when something is missing)
//   → provision — kind: build the image, create a cluster per flavour, install Istio/Cilium,
//     load the image; kubernetes: nothing, the existing cluster as it is
//   → runCell — a namespace with the mesh's objects, the load Job, figures, the namespace deleted
//   → teardown — delete the kind clusters; kubernetes: any namespace a cell did not remove
//
// Everything it creates is registered in kube-state.json first (its cleanup registry), and
// every command it runs goes to the run's commands.log.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProbeName } from '../../probes/types.ts';
import type { Cell, Scenario } from '../../scenario/types.ts';
import type { Platform, PlatformFacts, ProvisionedPlatform, RunContext } from '../types.ts';
import { meshModule } from '../../mesh/index.ts';
import { notRunCell } from '../../mesh/needs.ts';
import { runKubeCell } from './cell.ts';
import {
  buildImage, clusterKeyOf, deleteKindCluster, flavoursFor, prepare, provisionKind, type ClusterHandle, type ClusterKey,
  type KubePlan, type ProvisionContext,
} from './cluster.ts';
import { KUBE_STATE_FILE, KubeStateFile } from './state.ts';
import { toolLabel, type KubeTool } from './tools.ts';
import { PINNED_VERSIONS } from './versions.ts';

export const COMMANDS_LOG = 'commands.log';

export class KubernetesPlatform implements Platform {
  /**
   * A platform for a checked plan (prepare()). probes: the eBPF probes to run in the
   * cluster (default the scenario's); CPU from the containers' cgroups is recorded in any case.
   */
  constructor(
    readonly plan: KubePlan,
    private readonly probes?: readonly ProbeName[],
  ) {}

  get name(): KubePlan['platform'] {
    return this.plan.platform;
  }

  /**
   * Checks the host and the scenario; throws (creating nothing) when a tool, a context or a
   * mesh on an existing cluster is missing.
   */
  static async prepare(scenario: Scenario): Promise<KubernetesPlatform> {
    return new KubernetesPlatform(await prepare(scenario));
  }

  async facts(): Promise<PlatformFacts> {
    return {
      proxy: this.proxies(),
      placement: { driverCpus: 'not placed yet', podCpus: 'not placed yet' },
      tools: this.toolVersions(),
      notes: [],
    };
  }

  async provision(run: RunContext): Promise<ProvisionedPlatform> {
    const { plan } = this;
    const log = (line: string): void => {
      appendFileSync(join(run.runDir, COMMANDS_LOG), `${new Date().toISOString()} ${line}\n`);
      run.log(line);
    };
    const state = new KubeStateFile(join(run.runDir, KUBE_STATE_FILE), run.runId, plan.platform);
    const ctx: ProvisionContext = { runId: run.runId, runDir: run.runDir, state, signal: run.signal, log };
    const facts = await this.facts();
    const clusters = new Map<ClusterKey, ClusterHandle>();
    const teardown = (): Promise<string[]> => this.teardown(state, log);
    try {
      if (plan.platform === 'kind') {
        const flavours = flavoursFor(plan.scenario.meshes);
        log(`kind: ${flavours.length} cluster(s) (${flavours.join(', ')}), image ${plan.image}`);
        await buildImage(plan, ctx);
        for (const flavour of flavours) clusters.set(flavour, await provisionKind(plan, flavour, ctx));
        if (flavours.length > 1) {
          facts.notes.push('kind: the kube and cilium clusters run side by side on this host for the whole run; the idle one shares its CPUs');
        }
      } else {
        clusters.set('existing', plan.existing!);
      }
    } catch (error) {
      const notes = await teardown();
      if (notes.length > 0) (error as Error).message += ` (${notes.join('; ')})`;
      throw error;
    }
    recordClusters(facts, [...clusters.values()]);
    return {
      facts,
      runCell: (cell: Cell) => {
        // A mesh whose mtls cells cannot run on a cluster yet says so instead of running plaintext.
        const notYet = cell.security === 'mtls' ? meshModule(cell.mesh).requires.mtlsCluster : undefined;
        if (notYet) return Promise.resolve(notRunCell(cell, `not run: ${notYet}`, plan.scenario));
        return runKubeCell(cell, {
          runId: run.runId,
          scenario: plan.scenario,
          cluster: clusters.get(clusterKeyOf(plan.platform, cell.mesh))!,
          image: plan.image,
          probes: this.probes ?? plan.scenario.probes,
          state,
          signal: run.signal,
          log,
        });
      },
      teardown,
    };
  }

  /** kind: deletes every cluster the run registered; kubernetes: any namespace a cell did not remove. */
  private async teardown(state: KubeStateFile, log: (line: string) => void): Promise<string[]> {
    const notes: string[] = [];
    for (const cluster of [...state.current.kindClusters]) {
      try {
        await deleteKindCluster(cluster.name, cluster.kubeconfig, { log, state });
      } catch (error) {
        notes.push(`kind cluster ${cluster.name} could not be deleted (meshbench clean --platform kind removes it): ${(error as Error).message}`);
      }
    }
    for (const namespace of [...state.current.namespaces]) {
      try {
        await this.plan.existing?.kube.deleteNamespace(namespace.name, { timeoutMs: 5 * 60_000 });
        state.removeNamespace(namespace.name);
      } catch (error) {
        notes.push(`namespace ${namespace.name} could not be deleted: ${(error as Error).message}`);
      }
    }
    state.close();
    return notes;
  }

  /** The L7 proxies of the scenario's meshes: Envoy, as Istio's sidecar and as Cilium's node proxy. */
  private proxies(): { name: string; version: string } {
    const proxies = this.plan.scenario.meshes.flatMap((m) => meshModule(m).clusterProxy?.(this.plan.meshVersions) ?? []);
    return { name: 'envoy', version: proxies.join(', ') || 'none on the path' };
  }

  /** The tools' versions as found on this host, for environment.tools. */
  private toolVersions(): Record<string, string> {
    const tools: Record<string, string> = {};
    for (const tool of ['docker-engine', 'kind', 'istioctl', 'cilium', 'kubectl', 'helm'] as KubeTool[]) {
      const status = this.plan.tools[tool];
      tools[toolLabel(tool)] = status.present ? status.detail : 'not installed';
    }
    tools['@kubernetes/client-node'] = packageVersionOr('@kubernetes/client-node');
    return tools;
  }
}

/** What each cluster runs (Kubernetes, Istio, Cilium, node image) and the nodes the cells use. */
function recordClusters(facts: PlatformFacts, clusters: ClusterHandle[]): void {
  for (const cluster of clusters) {
    for (const [what, version] of Object.entries(cluster.versions)) {
      facts.tools[`${cluster.key === 'existing' ? '' : `${cluster.key}:`}${what}`] = version;
    }
  }
  const where = (pick: (c: ClusterHandle) => string): string => clusters.map((c) => `${c.key === 'existing' ? '' : `${c.key}: `}node ${pick(c)}`).join('; ');
  const sameNode = clusters.every((c) => c.nodes.client === c.nodes.server);
  facts.placement = {
    driverCpus: `${where((c) => c.nodes.client)} (the load driver's Job, with the client's sidecar if any)`,
    podCpus: `${where((c) => c.nodes.server)}${sameNode ? ' (the same node as the driver)' : ''}`,
  };
  facts.tools.pinned = Object.entries(PINNED_VERSIONS).map(([k, v]) => `${k} ${v}`).join(', ');
}

function packageVersionOr(name: string): string {
  try {
    const file = new URL(`../../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
