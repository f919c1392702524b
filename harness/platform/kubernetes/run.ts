// A run on kind or an existing cluster, as harness/runner/run.ts is one on the local
// platform: the same cells in the same interleaved order, the same events, the same run
// directory (cells.jsonl as cells finish, result.json and summary.md at the end, also when
// interrupted), so the CLI, results and reports do not know which platform ran.
//
//   prepare (nothing created when something is missing)
//   → kind: build the image, create a cluster per flavour, install Istio/Cilium, load the image
//   → for each cell: namespace, objects, load Job, figures, delete namespace
//   → delete the kind clusters (kubernetes: only the run's namespaces were ever created)
import { appendFileSync, readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { join, resolve } from 'node:path';
import { computeOverhead } from '../../analysis/overhead.ts';
import { PROBE_NAMES, type ProbeName } from '../../probes/types.ts';
import { collectEnvironment, meshbenchVersion } from '../../results/environment.ts';
import { createRunDir, SUMMARY_FILE, writeFileAtomic, writeResult } from '../../results/files.ts';
import { renderSummaryMarkdown } from '../../results/summary.ts';
import { RESULT_SCHEMA, type RunResult } from '../../results/types.ts';
import type { RunEvents } from '../../runner/run.ts';
import { runCellsInOrder } from '../../runner/cells.ts';
import { planCells } from '../../scenario/plan.ts';
import type { Scenario } from '../../scenario/types.ts';
import { newRunId } from '../local/names.ts';
import { runKubeCell } from './cell.ts';
import {
  buildImage, clusterKeyOf, deleteKindCluster, flavoursFor, prepare, provisionKind, type ClusterHandle, type ClusterKey,
  type KubePlan, type ProvisionContext,
} from './cluster.ts';
import { KUBE_STATE_FILE, KubeStateFile } from './state.ts';
import { toolLabel, type KubeTool } from './tools.ts';
import { PINNED_VERSIONS } from './versions.ts';

export interface KubernetesRunOptions {
  /** Parent directory of run directories (default `runs/`). */
  outRoot: string;
  /** eBPF probes to run in the cluster (default: all); CPU from cgroups is recorded in any case. */
  probes?: readonly ProbeName[];
  /** Progress lines while clusters are made and cells set up (minutes, not seconds). */
  onProgress?: (line: string) => void;
}

export const COMMANDS_LOG = 'commands.log';

export class KubernetesRun extends EventEmitter<RunEvents> {
  readonly runId = newRunId();
  readonly runDir: string;
  readonly done: Promise<RunResult>;
  private readonly abortController = new AbortController();

  constructor(
    readonly plan: KubePlan,
    private readonly options: KubernetesRunOptions,
  ) {
    super();
    this.runDir = createRunDir(resolve(options.outRoot), this.runId);
    // Started on the next tick so callers can subscribe first.
    this.done = new Promise((r) => setImmediate(r)).then(() => this.execute());
  }

  get scenario(): Scenario {
    return this.plan.scenario;
  }

  /** Stops the run (SIGINT/SIGTERM): the current cell tears down, the clusters go, finished cells are kept. */
  abort(): void {
    this.abortController.abort();
  }

  get aborted(): boolean {
    return this.abortController.signal.aborted;
  }

  private log(line: string): void {
    appendFileSync(join(this.runDir, COMMANDS_LOG), `${new Date().toISOString()} ${line}\n`);
    this.options.onProgress?.(line);
  }

  private async execute(): Promise<RunResult> {
    const { plan } = this;
    const scenario = plan.scenario;
    const cells = planCells(scenario);
    const state = new KubeStateFile(join(this.runDir, KUBE_STATE_FILE), this.runId, plan.platform);
    const ctx: ProvisionContext = { runId: this.runId, runDir: this.runDir, state, signal: this.abortController.signal, log: (l) => this.log(l) };
    const result: RunResult = {
      schema: RESULT_SCHEMA,
      meshbench: meshbenchVersion(),
      runId: this.runId,
      startedAt: new Date().toISOString(),
      status: 'complete',
      environment: await collectEnvironment(this.proxies(), { driverCpus: 'not placed yet', podCpus: 'not placed yet' }),
      scenario,
      cells: [],
      analysis: { overhead: [] },
      notes: [],
    };
    result.environment.tools = { ...result.environment.tools, ...this.toolVersions() };
    this.emit('run:start', { runId: this.runId, runDir: this.runDir, cells });
    const clusters = new Map<ClusterKey, ClusterHandle>();
    try {
      if (plan.platform === 'kind') {
        const flavours = flavoursFor(scenario.meshes);
        this.log(`kind: ${flavours.length} cluster(s) (${flavours.join(', ')}), image ${plan.image}`);
        await buildImage(plan, ctx);
        for (const flavour of flavours) clusters.set(flavour, await provisionKind(plan, flavour, ctx));
        if (flavours.length > 1) {
          result.notes.push('kind: the kube and cilium clusters run side by side on this host for the whole run; the idle one shares its CPUs');
        }
      } else {
        clusters.set('existing', plan.existing!);
      }
      this.recordClusters(result, [...clusters.values()]);
      const probes = this.options.probes ?? PROBE_NAMES;
      await runCellsInOrder(
        cells,
        (cell) =>
          runKubeCell(cell, {
            runId: this.runId,
            scenario,
            cluster: clusters.get(clusterKeyOf(plan.platform, cell.mesh))!,
            image: plan.image,
            probes,
            state,
            signal: this.abortController.signal,
            log: (l) => this.log(l),
          }),
        { runDir: this.runDir, result, events: this, aborted: () => this.aborted },
      );
    } catch (error) {
      if (!this.aborted) {
        result.status = 'failed';
        result.notes.push(`cluster set-up failed: ${(error as Error).message}`);
        this.log(`cluster set-up failed: ${(error as Error).message}`);
      }
    } finally {
      await this.teardown(state, result);
      if (this.aborted) {
        result.status = 'interrupted';
        result.notes.push(`interrupted after ${result.cells.length} of ${cells.length} cells; finished cells are kept`);
      }
      state.close();
      result.finishedAt = new Date().toISOString();
      result.analysis.overhead = computeOverhead(result.cells);
      writeResult(this.runDir, result);
      writeFileAtomic(join(this.runDir, SUMMARY_FILE), renderSummaryMarkdown(result));
    }
    return result;
  }

  /** kind: deletes every cluster the run registered; kubernetes: any namespace a cell did not remove. */
  private async teardown(state: KubeStateFile, result: RunResult): Promise<void> {
    const ctx = { log: (l: string) => this.log(l), state };
    for (const cluster of [...state.current.kindClusters]) {
      try {
        await deleteKindCluster(cluster.name, cluster.kubeconfig, ctx);
      } catch (error) {
        result.notes.push(`kind cluster ${cluster.name} could not be deleted (meshbench clean --platform kind removes it): ${(error as Error).message}`);
      }
    }
    for (const namespace of [...state.current.namespaces]) {
      try {
        await this.plan.existing?.kube.deleteNamespace(namespace.name, { timeoutMs: 5 * 60_000 });
        state.removeNamespace(namespace.name);
      } catch (error) {
        result.notes.push(`namespace ${namespace.name} could not be deleted: ${(error as Error).message}`);
      }
    }
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

  /** The L7 proxies of the scenario's meshes: Envoy, as Istio's sidecar and as Cilium's node proxy. */
  private proxies(): { name: string; version: string } {
    const proxies: string[] = [];
    if (this.scenario.meshes.includes('sidecar')) proxies.push(`istio-proxy (Istio ${this.plan.meshVersions.istio})`);
    if (this.scenario.meshes.includes('ebpf')) proxies.push(`cilium-envoy (Cilium ${this.plan.meshVersions.cilium})`);
    return { name: 'envoy', version: proxies.join(', ') || 'none on the path' };
  }

  /** What each cluster runs (Kubernetes, Istio, Cilium, node image) and the nodes the cells use. */
  private recordClusters(result: RunResult, clusters: ClusterHandle[]): void {
    for (const cluster of clusters) {
      for (const [what, version] of Object.entries(cluster.versions)) {
        result.environment.tools[`${cluster.key === 'existing' ? '' : `${cluster.key}:`}${what}`] = version;
      }
    }
    const where = (pick: (c: ClusterHandle) => string): string => clusters.map((c) => `${c.key === 'existing' ? '' : `${c.key}: `}node ${pick(c)}`).join('; ');
    const sameNode = clusters.every((c) => c.nodes.client === c.nodes.server);
    result.environment.placement = {
      driverCpus: `${where((c) => c.nodes.client)} (the load driver's Job, with the client's sidecar if any)`,
      podCpus: `${where((c) => c.nodes.server)}${sameNode ? ' (the same node as the driver)' : ''}`,
    };
    result.environment.tools.pinned = Object.entries(PINNED_VERSIONS).map(([k, v]) => `${k} ${v}`).join(', ');
  }
}

function packageVersionOr(name: string): string {
  try {
    const file = new URL(`../../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Checks the host and the scenario, then starts the run. Throws (creating nothing, not even
 * the run directory) when a tool, a context, a mesh on an existing cluster is missing.
 */
export async function startKubernetesRun(scenario: Scenario, options: KubernetesRunOptions): Promise<KubernetesRun> {
  const plan = await prepare(scenario);
  return new KubernetesRun(plan, options);
}

/** What the CLI needs of a run on any platform (the local ScenarioRun and KubernetesRun both are one). */
export interface PlatformRun {
  readonly runDir: string;
  readonly done: Promise<RunResult>;
  abort(): void;
  on<K extends keyof RunEvents>(event: K, listener: (...args: RunEvents[K]) => void): unknown;
}
