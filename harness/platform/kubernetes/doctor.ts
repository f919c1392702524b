// `meshbench doctor` for the kind and kubernetes platforms: which tools are here (a docker
// engine, not just its client), which kubeconfig contexts exist, and what that allows.
// Nothing here contacts a cluster: a context named in a scenario is checked when it runs.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Check } from '../../cli/doctor.ts';
import { meshModules } from '../../mesh/index.ts';
import { allToolStatus, toolLabel, type KubeTool, type ToolStatus } from './tools.ts';
import { PINNED_VERSIONS } from './versions.ts';

const WHY: Record<KubeTool, string> = {
  docker: 'client of the docker engine',
  'docker-engine': 'kind runs cluster nodes as containers; the image is built with it',
  kind: `creates the clusters of platform kind (pinned ${PINNED_VERSIONS.kind})`,
  kubectl: 'not needed by meshbench; handy to look into a cluster',
  istioctl: `installs Istio for the sidecar mesh on kind (pinned ${PINNED_VERSIONS.istio})`,
  helm: 'not needed (Cilium installs through the cilium CLI); listed for manual installs',
  cilium: `installs Cilium for the ebpf meshes on kind (CLI pinned ${PINNED_VERSIONS.ciliumCli})`,
};

export interface KubeconfigContexts {
  files: string[];
  contexts: string[];
  current?: string;
  error?: string;
}

/** The kubeconfig files kubectl would read, and their contexts. */
export function kubeconfigContexts(env: NodeJS.ProcessEnv = process.env): KubeconfigContexts {
  const files = (env.KUBECONFIG ? env.KUBECONFIG.split(delimiter) : [join(homedir(), '.kube', 'config')]).filter((f) => f !== '' && existsSync(f));
  const found: KubeconfigContexts = { files, contexts: [] };
  for (const file of files) {
    try {
      const kc = new KubeConfig();
      kc.loadFromFile(file);
      for (const c of kc.getContexts()) if (!found.contexts.includes(c.name)) found.contexts.push(c.name);
      if (found.current === undefined && kc.getCurrentContext()) found.current = kc.getCurrentContext();
    } catch (error) {
      found.error = `${file}: ${(error as Error).message}`;
    }
  }
  return found;
}

export function kubeChecks(status: Record<KubeTool, ToolStatus>, contexts: KubeconfigContexts): Check[] {
  const checks: Check[] = (Object.keys(WHY) as KubeTool[]).map((tool) => ({
    what: toolLabel(tool),
    ok: status[tool].present,
    detail: status[tool].present ? `${status[tool].detail}: ${WHY[tool]}` : `missing: ${WHY[tool]} (${status[tool].detail})`,
    required: false,
  }));
  checks.push({
    what: 'kubeconfig contexts',
    ok: contexts.contexts.length > 0,
    detail:
      contexts.contexts.length > 0
        ? `${contexts.contexts.join(', ')}${contexts.current ? ` (current: ${contexts.current})` : ''} in ${contexts.files.join(', ')}`
        : contexts.error ?? 'none (KUBECONFIG or ~/.kube/config): platform kubernetes needs a context of an existing cluster',
    required: false,
  });
  return checks;
}

/** Doctor's checks for kind/kubernetes, all optional for the local platform. */
export async function kubeDoctorChecks(): Promise<Check[]> {
  return kubeChecks(await allToolStatus(), kubeconfigContexts());
}

/** The summary lines: what platform kind and platform kubernetes can run here. */
export function kubePlatformSummary(checks: readonly Check[]): string[] {
  const ok = (what: string): boolean => checks.find((c) => c.what === what)?.ok ?? false;
  const lines: string[] = [];
  const blocking = ['docker engine', 'kind'].filter((w) => !ok(w));
  if (blocking.length > 0) {
    lines.push(`kind platform: cannot run (missing ${blocking.join(', ')})`);
  } else {
    const meshes: string[] = [];
    const lackingBy = new Map<string, string[]>();
    for (const mesh of meshModules()) {
      const tool = mesh.requires.kindTool?.tool;
      if (!tool || ok(tool)) meshes.push(mesh.name);
      else lackingBy.set(tool, [...(lackingBy.get(tool) ?? []), mesh.name]);
    }
    const lacking = [...lackingBy].map(([tool, names]) => `${tool} (${names.join(', ')})`);
    lines.push(`kind platform: ready for ${meshes.join(', ')}${lacking.length ? `; missing ${lacking.join(', ')}` : ''}`);
  }
  lines.push(
    ok('kubeconfig contexts')
      ? 'kubernetes platform: needs a scenario with context: and image:; the cluster is checked when a run names it'
      : 'kubernetes platform: no kubeconfig context',
  );
  return lines;
}
