// Which of the tools the kind and kubernetes platforms use are here, and which version:
// for `meshbench doctor`, for the check before a run (nothing is created when one is
// missing), and for result.json.
import { execa } from 'execa';
import { meshModule } from '../../mesh/index.ts';
import type { MeshName, PlatformName } from '../../scenario/types.ts';

export const KUBE_TOOLS = ['docker', 'docker-engine', 'kind', 'kubectl', 'istioctl', 'helm', 'cilium'] as const;
export type KubeTool = (typeof KUBE_TOOLS)[number];

export interface ToolStatus {
  tool: KubeTool;
  present: boolean;
  /** Version when present (e.g. `0.25.0`), else why not (first line of the error). */
  detail: string;
}

interface Probe {
  cmd: string;
  args: string[];
  version: RegExp;
}

const PROBES: Record<KubeTool, Probe> = {
  docker: { cmd: 'docker', args: ['--version'], version: /version (\S+?),?\s/ },
  // The client answers --version without an engine; `docker info` needs the engine itself.
  'docker-engine': { cmd: 'docker', args: ['info', '--format', '{{.ServerVersion}}'], version: /^(\S+)/ },
  kind: { cmd: 'kind', args: ['version'], version: /kind v?(\S+)/ },
  kubectl: { cmd: 'kubectl', args: ['version', '--client', '-o', 'json'], version: /"gitVersion":\s*"v?([^"]+)"/ },
  istioctl: { cmd: 'istioctl', args: ['version', '--remote=false'], version: /(\d+\.\d+\.\d+\S*)/ },
  helm: { cmd: 'helm', args: ['version', '--short'], version: /v?(\d+\.\d+\.\d+)/ },
  cilium: { cmd: 'cilium', args: ['version', '--client'], version: /cilium-cli:\s*v?(\S+)/ },
};

function firstLine(text: string): string {
  return text.trim().split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}

export async function toolStatus(tool: KubeTool, env: NodeJS.ProcessEnv = process.env): Promise<ToolStatus> {
  const probe = PROBES[tool];
  try {
    const r = await execa(probe.cmd, probe.args, { reject: false, timeout: 15_000, env, stdin: 'ignore' });
    const output = `${String(r.stdout ?? '')}\n${String(r.stderr ?? '')}`;
    if ((r as { code?: string }).code === 'ENOENT' || r.failed && r.exitCode === undefined && !r.timedOut) {
      return { tool, present: false, detail: `${probe.cmd} is not on PATH` };
    }
    if (r.timedOut) return { tool, present: false, detail: `\`${probe.cmd} ${probe.args.join(' ')}\` did not answer within 15 s` };
    if (r.exitCode !== 0) {
      const why = firstLine(String(r.stderr ?? '')) || firstLine(String(r.stdout ?? '')) || `exit ${r.exitCode}`;
      return { tool, present: false, detail: `\`${probe.cmd} ${probe.args.join(' ')}\` failed: ${why}` };
    }
    return { tool, present: true, detail: probe.version.exec(output.trim())?.[1] ?? 'unknown version' };
  } catch (error) {
    return { tool, present: false, detail: (error as Error).message };
  }
}

export async function allToolStatus(env?: NodeJS.ProcessEnv): Promise<Record<KubeTool, ToolStatus>> {
  const statuses = await Promise.all(KUBE_TOOLS.map((t) => toolStatus(t, env)));
  return Object.fromEntries(statuses.map((s) => [s.tool, s])) as Record<KubeTool, ToolStatus>;
}

export interface ToolNeed {
  tool: KubeTool;
  why: string;
}

/**
 * The tools a run needs. kind: a docker engine (the nodes are containers) and kind, plus
 * istioctl for the sidecar mesh and the cilium CLI for the ebpf meshes. kubernetes: none —
 * the harness talks to the API itself and installs nothing on an existing cluster.
 */
export function toolsNeeded(platform: PlatformName, meshes: readonly MeshName[]): ToolNeed[] {
  if (platform !== 'kind') return [];
  const needs: ToolNeed[] = [
    { tool: 'docker-engine', why: 'kind runs cluster nodes as containers and the image is built with docker' },
    { tool: 'kind', why: 'creates and deletes the clusters' },
  ];
  for (const mesh of meshes) {
    const tool = meshModule(mesh).requires.kindTool;
    if (tool && !needs.some((n) => n.tool === tool.tool)) needs.push({ ...tool });
  }
  return needs;
}

/** The needs that are not met, with why each is needed and why it is not there. */
export function missingTools(needs: readonly ToolNeed[], status: Record<KubeTool, ToolStatus>): Array<ToolNeed & { detail: string }> {
  return needs.filter((n) => !status[n.tool].present).map((n) => ({ ...n, detail: status[n.tool].detail }));
}

/** How a missing tool is named to a user: the docker engine is not "docker". */
export function toolLabel(tool: KubeTool): string {
  return tool === 'docker-engine' ? 'docker engine' : tool === 'docker' ? 'docker client' : tool;
}
