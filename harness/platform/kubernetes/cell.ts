// One cell on a cluster: a namespace with the mesh's objects, the probe DaemonSet and the
// services; the load driver as a Job on the client's node; CPU and eBPF figures over the
// measured window; the result from the driver's log; then the namespace is deleted (also
// on failure and on SIGINT).
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { HostError } from '../../errors.ts';
import type { ComponentRole } from '../../mesh/types.ts';
import type { ComponentProbeFigures, ProbeName } from '../../probes/types.ts';
import type { CellResult, LoadOutcome } from '../../results/types.ts';
import type { Cell, Scenario } from '../../scenario/types.ts';
import { CellProbes, containerStatusId, cpuSecondsBetween, type CellProbeFigures } from './clusterProbes.ts';
import type { ClusterHandle } from './cluster.ts';
import { sumPrometheusCounter, type KubeClient } from './kube.ts';
import {
  SERVER_SELECTOR, cellObjects, loadJob, loadSpec, toPlain, type CellManifestInput,
} from './manifests.ts';
import { createKubeMesh } from '../../mesh/index.ts';
import type { KubeMesh, MeshContainer } from '../../mesh/types.ts';
import { LOAD_JOB_NAME, PROBES_NAME, ROLE_LABEL, cellNamespace } from './names.ts';
import type { KubeStateFile } from './state.ts';
import { daemonSetsReady, deploymentsAvailable, jobFailure, jobFinished, podHopeless, podStarted } from './waits.ts';

/** How long the cell's objects may take to come up (image already on the nodes). */
const SETUP_TIMEOUT_MS = 5 * 60_000;
const TEARDOWN_TIMEOUT_MS = 5 * 60_000;

export interface KubeCellEnvironment {
  runId: string;
  scenario: Scenario;
  cluster: ClusterHandle;
  image: string;
  /** eBPF probes to run in the cluster; CPU (cgroup accounting) is read in any case. */
  probes: readonly ProbeName[];
  state: KubeStateFile;
  signal: AbortSignal;
  log: (line: string) => void;
}

/** Per component: the eBPF figures, with its role and pod (pids are the node's, not recorded). */
export type KubeComponentResult = ComponentProbeFigures & { role: ComponentRole; pod: string; pids: number[] };

/**
 * A cell on a cluster: the common cell result plus the nodes it ran on and, per component,
 * the eBPF figures (in the shape the local platform's cells carry them).
 */
export type KubeCellResult = CellResult & {
  nodes: { client: string; server: string };
  components?: Record<string, KubeComponentResult>;
  probes?: { ran: ProbeName[]; failed: Partial<Record<ProbeName, string>> };
};

/** The merged figures of a cell's nodes as per-component results. */
export function componentResults(figures: CellProbeFigures): Record<string, KubeComponentResult> {
  const components: Record<string, KubeComponentResult> = {};
  for (const [id, values] of Object.entries(figures.components)) {
    const slash = id.lastIndexOf('/');
    components[id] = { ...values, role: id.slice(slash + 1) as ComponentRole, pod: id.slice(0, slash), pids: [] };
  }
  return components;
}

/**
 * The driver's outcome from its log: the last JSON line with `latencyUs` (a LoadOutcome)
 * or `error`. Throws with the driver's error, or with the log's tail when there is neither.
 */
export function parseDriverOutcome(log: string): LoadOutcome {
  const lines = log.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.trimStart().startsWith('{')) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (typeof (value as { error?: unknown }).error === 'string') throw new HostError(`load driver failed: ${(value as { error: string }).error}`);
    if (typeof (value as { latencyUs?: unknown }).latencyUs === 'object') return value as LoadOutcome;
  }
  throw new HostError(`load driver printed no result; its log ends with:\n${lines.slice(0, 5).reverse().join('\n') || '(empty)'}`);
}

/** Component id of a container, named as on the local platform: `server-3/server-app`, `<node>/node-proxy`. */
export function componentId(pod: V1Pod, role: string): string {
  if (role === 'node-proxy') return `${pod.spec?.nodeName ?? 'node'}/node-proxy`;
  const labels = pod.metadata?.labels ?? {};
  if (labels[ROLE_LABEL] === 'client') return `client-1/${role}`;
  const index = /^s(\d+)$/.exec(labels.app ?? '')?.[1];
  return `${index ? `server-${index}` : (pod.metadata?.name ?? 'pod')}/${role}`;
}

async function podsOf(kube: KubeClient, namespace: string, labelSelector: string): Promise<V1Pod[]> {
  return (await kube.core.listNamespacedPod({ namespace, labelSelector })).items;
}

function selector(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}

/** The containers whose CPU and eBPF figures a cell records, on the cell's nodes. */
async function watchedContainers(
  kube: KubeClient,
  namespace: string,
  mesh: KubeMesh,
  nodes: { client: string; server: string },
  only: 'servers-and-nodes' | 'client',
): Promise<Array<{ node: string; id: string; containerId: string }>> {
  const serverApps: Omit<MeshContainer, 'role'> & { role: 'server-app' } = {
    role: 'server-app',
    namespace: 'cell',
    labelSelector: selector(SERVER_SELECTOR),
    container: 'server-app',
  };
  const wanted: Array<Omit<MeshContainer, 'role'> & { role: MeshContainer['role'] | 'server-app' }> =
    only === 'client'
      ? mesh.containers().filter((c) => c.role === 'client-sidecar')
      : [serverApps, ...mesh.containers().filter((c) => c.role !== 'client-sidecar')];
  const found: Array<{ node: string; id: string; containerId: string }> = [];
  for (const c of wanted) {
    const role = c.role;
    const pods = await podsOf(kube, c.namespace === 'cell' ? namespace : c.namespace, c.labelSelector);
    for (const pod of pods) {
      const node = pod.spec?.nodeName;
      if (!node || (node !== nodes.client && node !== nodes.server)) continue;
      const containerId = containerStatusId(pod, c.container);
      if (containerId) found.push({ node, id: componentId(pod, role), containerId });
    }
  }
  return found;
}

async function readPathCounters(kube: KubeClient, mesh: KubeMesh, namespace: string, serverNode: string): Promise<Record<string, number>> {
  const values: Record<string, number> = {};
  for (const counter of mesh.pathCounters()) {
    const ns = counter.namespace === 'cell' ? namespace : counter.namespace;
    const pods = (await podsOf(kube, ns, counter.labelSelector)).filter((p) => !counter.serversNodeOnly || p.spec?.nodeName === serverNode);
    let sum = 0;
    for (const pod of pods) {
      sum += sumPrometheusCounter(await kube.podGet(ns, pod.metadata!.name!, counter.port, counter.path), counter.metric, counter.labels);
    }
    values[counter.name] = sum;
  }
  return values;
}

/** The measured window's two ends, idempotent, each end taken once and in order. */
class MeasuredWindow {
  private beginning: Promise<void> | undefined;
  private ending: Promise<void> | undefined;
  cpuBefore = new Map<string, number>();
  cpuAfter = new Map<string, number>();
  constructor(private readonly probes: CellProbes | undefined) {}

  begin(): Promise<void> {
    this.beginning ??= (async () => {
      if (!this.probes) return;
      this.cpuBefore = await this.probes.cpuUs();
      await this.probes.begin();
    })();
    return this.beginning;
  }

  end(): Promise<void> {
    this.ending ??= this.begin().then(async () => {
      if (this.probes) this.cpuAfter = await this.probes.cpuUs();
    });
    return this.ending;
  }
}

export async function runKubeCell(cell: Cell, env: KubeCellEnvironment): Promise<KubeCellResult> {
  const startedAt = new Date().toISOString();
  const { kube, nodes } = env.cluster;
  const namespace = cellNamespace(env.runId, cell.index);
  const mesh = createKubeMesh(cell.mesh, cell.security);
  const input: CellManifestInput = {
    runId: env.runId,
    cellId: cell.id,
    namespace,
    mesh,
    services: cell.services,
    workload: env.scenario.workload,
    image: env.image,
    clientNode: nodes.client,
    serverNode: nodes.server,
  };
  // Validated against their schemas before anything reaches the cluster.
  const objects = toPlain(cellObjects(input, { probes: true }));
  const notes: string[] = [...mesh.notes(), ...env.cluster.notes];
  const wait = { timeoutMs: SETUP_TIMEOUT_MS, signal: env.signal };
  let probes: CellProbes | undefined;
  let failure: unknown;
  if (env.cluster.key === 'existing') env.state.addNamespace(kube.context, namespace);
  try {
    env.log(`  ${cell.id}: applying ${objects.length} objects to namespace ${namespace} on ${env.cluster.name}`);
    await kube.apply(objects);
    await Promise.all([
      kube.waitFor('Deployment', { namespace }, deploymentsAvailable(cell.services), { what: `${cell.services} server deployment(s)`, ...wait }),
      kube.waitFor('DaemonSet', { namespace, fieldSelector: `metadata.name=${PROBES_NAME}` }, daemonSetsReady(1), { what: 'the probe DaemonSet', ...wait }),
    ]);
    const servers = await podsOf(kube, namespace, selector(SERVER_SELECTOR));
    const injected = mesh.injectedContainer;
    if (injected) {
      const bare = servers.filter((p) => containerStatusId(p, injected) === undefined);
      if (bare.length > 0) throw new HostError(`sidecar injection did not happen: ${bare.map((p) => p.metadata?.name).join(', ')} have no ${injected}`);
    }
    const services = (await kube.core.listNamespacedService({ namespace })).items;
    const clusterIps = Array.from({ length: cell.services }, (_, i) => {
      const ip = services.find((s) => s.metadata?.name === `s${i + 1}`)?.spec?.clusterIP;
      if (!ip || ip === 'None') throw new HostError(`service s${i + 1} in ${namespace} has no cluster IP`);
      return ip;
    });
    const countersBefore = await readPathCounters(kube, mesh, namespace, nodes.server).catch((e: Error) => {
      notes.push(`path counters not read: ${e.message}`);
      return undefined;
    });

    try {
      probes = await CellProbes.start(kube, namespace, [nodes.client, nodes.server], env.probes);
      for (const c of await watchedContainers(kube, namespace, mesh, nodes, 'servers-and-nodes')) await probes.track(c.node, c.id, c.containerId);
    } catch (error) {
      notes.push(`CPU and eBPF figures missing: ${(error as Error).message}`);
      probes?.close();
      probes = undefined;
    }

    const spec = loadSpec(env.scenario.load, clusterIps);
    await kube.apply(toPlain([loadJob(input, spec, env.scenario.load.driver)]));
    const [driverPod] = await kube.waitFor<V1Pod>('Pod', { namespace, labelSelector: `job-name=${LOAD_JOB_NAME}` }, (pods) => podStarted(pods), {
      what: 'the load driver pod to start',
      ...wait,
    });
    if (injected && containerStatusId(driverPod!, injected) === undefined) {
      throw new HostError(`sidecar injection did not happen for the load driver pod ${driverPod!.metadata?.name}`);
    }
    if (probes) {
      try {
        for (const c of await watchedContainers(kube, namespace, mesh, nodes, 'client')) await probes.track(c.node, c.id, c.containerId);
      } catch (error) {
        notes.push(`client components not tracked: ${(error as Error).message}`);
      }
    }

    // The measured window: from the driver's `{"phase":"measure"}` line if it prints one,
    // else from warm-up's length after its start; to its result line.
    const window = new MeasuredWindow(probes);
    let sawPhase = false;
    const fallback = setTimeout(() => {
      if (!sawPhase) {
        notes.push('measured window of CPU/eBPF figures timed from the warm-up length (the driver printed no phase line)');
        void window.begin();
      }
    }, env.scenario.load.warmupMs);
    const logs = new AbortController();
    const following = kube
      .followLog(namespace, driverPod!.metadata!.name!, 'load-driver', (line) => {
        if (line.includes('"phase":"measure"')) {
          sawPhase = true;
          void window.begin();
        } else if (line.includes('"latencyUs"') || line.includes('"error"')) {
          void window.end();
        }
      }, logs.signal)
      .catch((error: Error) => notes.push(`driver log not followed live: ${error.message}`));
    const deadlineMs = env.scenario.load.warmupMs + env.scenario.load.durationMs + 4 * 60_000;
    let job: V1Job;
    try {
      [job] = (await kube.waitFor<V1Job>('Job', { namespace, fieldSelector: `metadata.name=${LOAD_JOB_NAME}` }, jobFinished, {
        what: 'the load driver Job to finish',
        timeoutMs: deadlineMs,
        signal: env.signal,
      })) as [V1Job];
    } finally {
      clearTimeout(fallback);
      logs.abort();
      await following;
    }
    await window.end();
    const figures = probes ? await probes.end().catch((e: Error) => (notes.push(`eBPF figures lost: ${e.message}`), undefined)) : undefined;

    const log = await kube.podLog(namespace, driverPod!.metadata!.name!, 'load-driver');
    const failureReason = jobFailure(job);
    let outcome: LoadOutcome;
    try {
      outcome = parseDriverOutcome(log);
    } catch (error) {
      throw failureReason ? new HostError(`${(error as Error).message} (job: ${failureReason})`) : error;
    }
    if (outcome.saturated) notes.push('generator or system saturated: achieved rate below 95 % of the asked rate');
    const path: Record<string, number> = {};
    const countersAfter = countersBefore ? await readPathCounters(kube, mesh, namespace, nodes.server).catch((e: Error) => {
      notes.push(`path counters not read: ${e.message}`);
      return undefined;
    }) : undefined;
    if (countersBefore && countersAfter) {
      for (const [name, after] of Object.entries(countersAfter)) path[name] = after - (countersBefore[name] ?? 0);
    }
    if (mesh.provenBy && path[mesh.provenBy.counter] === 0) notes.push(mesh.provenBy.note);
    const result: KubeCellResult = {
      ...cell,
      startedAt,
      finishedAt: new Date().toISOString(),
      load: outcome,
      path,
      cpuSeconds: cpuSecondsBetween(window.cpuBefore, window.cpuAfter),
      notes,
      nodes: { ...nodes },
    };
    if (figures) {
      result.components = componentResults(figures);
      result.probes = { ran: figures.probes, failed: figures.failed as Partial<Record<ProbeName, string>> };
    }
    return result;
  } catch (error) {
    failure = error;
    const hopeless = await podsOf(kube, namespace, '').then((pods) => pods.map(podHopeless).find(Boolean)).catch(() => undefined);
    if (hopeless) throw new HostError(`${(error as Error).message} (${hopeless})`);
    throw error;
  } finally {
    probes?.close();
    try {
      env.log(`  ${cell.id}: deleting namespace ${namespace}`);
      await kube.deleteNamespace(namespace, { timeoutMs: TEARDOWN_TIMEOUT_MS });
      env.state.removeNamespace(namespace);
    } catch (cleanupError) {
      // A cleanup failure must not hide the cell's own failure, nor pass silently.
      if (failure === undefined) throw cleanupError;
      env.log(`  ${(cleanupError as Error).message}`);
    }
  }
}
