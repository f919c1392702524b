// The harness's side of the probe agents: one agent per node the cell uses, exec'd into
// that node's probe DaemonSet pod; components are tracked by container id on the node
// they run on; CPU (cgroup accounting) and the eBPF figures come back per node and are
// merged into one record per cell, keyed like the local platform's components
// (`server-1/server-app`, `client-1/client-sidecar`, `<node>/node-proxy`).
import type { V1Pod } from '@kubernetes/client-node';
import type { ComponentProbeFigures, ProbeFigures, ProbeName } from '../../probes/types.ts';
import type { ExecSession, KubeClient } from './kube.ts';
import { APP_DIR, PROBE_CGROUP_ROOT } from './manifests.ts';
import { PROBES_NAME } from './names.ts';

const AGENT_ENTRY = 'harness/platform/kubernetes/probeAgent.ts';
const ANSWER_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 90_000;

/** The eBPF figures of a cell, merged over its nodes. */
export interface CellProbeFigures {
  nodes: string[];
  probes: ProbeName[];
  /** Probe → why it did not run, per node (`<node>: <why>`). */
  failed: Record<string, string>;
  windowMs: number;
  components: Record<string, ComponentProbeFigures>;
}

export function agentArgv(probes: readonly ProbeName[]): string[] {
  return ['node', '--import', 'tsx', `${APP_DIR}/${AGENT_ENTRY}`, '--probes', probes.join(','), '--cgroup-root', PROBE_CGROUP_ROOT];
}

/** A container of a pod: its status id, from containerStatuses or (native sidecars) initContainerStatuses. */
export function containerStatusId(pod: V1Pod, container: string): string | undefined {
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  return statuses.find((s) => s.name === container)?.containerID;
}

interface Agent {
  node: string;
  session: ExecSession;
  probes: ProbeName[];
  failed: Record<string, string>;
}

async function ask(agent: Agent, request: unknown): Promise<Record<string, unknown>> {
  agent.session.writeLine(JSON.stringify(request));
  const answer = JSON.parse(await agent.session.nextLine(ANSWER_TIMEOUT_MS)) as Record<string, unknown>;
  if (typeof answer.error === 'string') throw new Error(`probe agent on ${agent.node}: ${answer.error}`);
  return answer;
}

export class CellProbes {
  private constructor(private readonly agents: Map<string, Agent>) {}

  /** Starts an agent on each node (in the probe DaemonSet pod there). */
  static async start(kube: KubeClient, namespace: string, nodes: readonly string[], probes: readonly ProbeName[]): Promise<CellProbes> {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: `app=${PROBES_NAME}` });
    const agents = new Map<string, Agent>();
    try {
      for (const node of new Set(nodes)) {
        const pod = pods.items.find((p) => p.spec?.nodeName === node && p.status?.phase === 'Running');
        if (!pod) throw new Error(`no running probe pod on node ${node}`);
        const session = await kube.exec(namespace, pod.metadata!.name!, 'probes', agentArgv(probes));
        const agent: Agent = { node, session, probes: [], failed: {} };
        agents.set(node, agent);
        const ready = JSON.parse(await session.nextLine(READY_TIMEOUT_MS)) as { ready?: boolean; probes?: ProbeName[]; failed?: Record<string, string>; error?: string };
        if (!ready.ready) throw new Error(`probe agent on ${node}: ${ready.error ?? 'did not start'}`);
        agent.probes = ready.probes ?? [];
        agent.failed = ready.failed ?? {};
      }
    } catch (error) {
      for (const agent of agents.values()) agent.session.close();
      throw error;
    }
    return new CellProbes(agents);
  }

  async track(node: string, id: string, statusContainerId: string): Promise<void> {
    const agent = this.agents.get(node);
    if (!agent) throw new Error(`no probe agent on node ${node}`);
    await ask(agent, { track: { id, containerId: statusContainerId } });
  }

  /** CPU µs of every tracked component so far (cgroup cpu.stat), over all nodes. */
  async cpuUs(): Promise<Map<string, number>> {
    const usage = new Map<string, number>();
    for (const agent of this.agents.values()) {
      const answer = await ask(agent, { cpu: true });
      for (const [id, us] of Object.entries(answer.cpuUs as Record<string, number>)) usage.set(id, us);
    }
    return usage;
  }

  async begin(): Promise<void> {
    for (const agent of this.agents.values()) await ask(agent, { start: true });
  }

  /** Final eBPF figures of every node, merged; the agents exit. */
  async end(): Promise<CellProbeFigures> {
    const merged: CellProbeFigures = { nodes: [], probes: [], failed: {}, windowMs: 0, components: {} };
    for (const agent of this.agents.values()) {
      const answer = await ask(agent, { stop: true });
      const figures = answer.figures as ProbeFigures | null;
      merged.nodes.push(agent.node);
      for (const [probe, why] of Object.entries({ ...agent.failed, ...((answer.failed as Record<string, string>) ?? {}) })) {
        merged.failed[probe] = merged.failed[probe] ? `${merged.failed[probe]}; ${agent.node}: ${why}` : `${agent.node}: ${why}`;
      }
      if (!figures) continue;
      for (const probe of figures.probes) if (!merged.probes.includes(probe)) merged.probes.push(probe);
      merged.windowMs = Math.max(merged.windowMs, figures.windowMs);
      Object.assign(merged.components, figures.components);
    }
    return merged;
  }

  close(): void {
    for (const agent of this.agents.values()) agent.session.close();
  }
}

/** CPU seconds per component between two cpuUs() snapshots (components in both only). */
export function cpuSecondsBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Record<string, number> {
  const seconds: Record<string, number> = {};
  for (const [id, end] of after) {
    const start = before.get(id);
    if (start !== undefined && end >= start) seconds[id] = Number(((end - start) / 1e6).toFixed(3));
  }
  return seconds;
}
