// The command lines of docker, kind, istioctl and the cilium CLI, as pure functions (tested
// as data), and one place that runs them. Every CLI gets the run's own kubeconfig file via
// KUBECONFIG, so a run never edits the user's ~/.kube/config nor switches their context.
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from '../../exec.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Command {
  cmd: string;
  args: string[];
  /** Extra environment (KUBECONFIG). */
  env?: Record<string, string>;
  timeoutMs: number;
}

export function dockerBuild(image: string): Command {
  return { cmd: 'docker', args: ['build', '--file', `${REPO_ROOT}Dockerfile`, '--tag', image, REPO_ROOT], timeoutMs: 20 * 60_000 };
}

/** Does the image exist in the local docker engine? (exit 0 if so) */
export function dockerImageInspect(image: string): Command {
  return { cmd: 'docker', args: ['image', 'inspect', '--format', '{{.Id}}', image], timeoutMs: 30_000 };
}

/**
 * `kind create cluster` without `--wait`: readiness is awaited through the API (a Watch on
 * the nodes), and a Cilium cluster's nodes only become Ready once Cilium is installed.
 */
export function kindCreateCluster(o: { name: string; configPath: string; nodeImage: string; kubeconfig: string }): Command {
  return {
    cmd: 'kind',
    args: ['create', 'cluster', '--name', o.name, '--config', o.configPath, '--image', o.nodeImage, '--kubeconfig', o.kubeconfig],
    timeoutMs: 10 * 60_000,
  };
}

export function kindDeleteCluster(o: { name: string; kubeconfig?: string }): Command {
  return {
    cmd: 'kind',
    args: ['delete', 'cluster', '--name', o.name, ...(o.kubeconfig ? ['--kubeconfig', o.kubeconfig] : [])],
    timeoutMs: 5 * 60_000,
  };
}

export function kindGetClusters(): Command {
  return { cmd: 'kind', args: ['get', 'clusters'], timeoutMs: 30_000 };
}

export function kindLoadImage(o: { image: string; cluster: string }): Command {
  return { cmd: 'kind', args: ['load', 'docker-image', o.image, '--name', o.cluster], timeoutMs: 10 * 60_000 };
}

/**
 * Istio's control plane (istiod only: the minimal profile has no gateways) with native
 * sidecars, so the load driver's Job completes when the driver exits instead of waiting
 * forever on its istio-proxy, and the proxy is ready before the driver starts. Access logs
 * stay off (the minimal profile's default), as on every other data path. The ambient meshes
 * need the ambient profile (istiod, istio-cni, ztunnel; sidecar injection still works there).
 */
export function istioctlInstall(o: { kubeconfig: string; version: string; profile?: 'minimal' | 'ambient' }): Command {
  return {
    cmd: 'istioctl',
    args: [
      'install', '--skip-confirmation',
      '--set', `profile=${o.profile ?? 'minimal'}`,
      '--set', `tag=${o.version}`,
      '--set', 'values.pilot.env.ENABLE_NATIVE_SIDECARS=true',
      '--set', 'meshConfig.accessLogFile=',
    ],
    env: { KUBECONFIG: o.kubeconfig },
    timeoutMs: 10 * 60_000,
  };
}


/** Cilium from its Helm chart through the cilium CLI, with the values file of ciliumHelmValues(). */
export function ciliumInstall(o: { kubeconfig: string; version: string; valuesFile: string }): Command {
  return {
    cmd: 'cilium',
    args: ['install', '--version', o.version, '--values', o.valuesFile],
    env: { KUBECONFIG: o.kubeconfig },
    timeoutMs: 10 * 60_000,
  };
}

/**
 * Cilium's Helm values for kind: the eBPF kube-proxy replacement (socket-level LB at
 * connect(), as the local ebpf paths do), the per-node Envoy as its own DaemonSet
 * (cilium-envoy: the node proxy that L7 policies send traffic through), and nothing that
 * costs per packet beyond the data path itself (Hubble off).
 */
export function ciliumHelmValues(o: { clusterName: string }): Record<string, unknown> {
  return {
    kubeProxyReplacement: true,
    // Without kube-proxy, the agent reaches the API server directly: the control-plane
    // node's container name on kind's docker network.
    k8sServiceHost: `${o.clusterName}-control-plane`,
    k8sServicePort: 6443,
    ipam: { mode: 'kubernetes' },
    socketLB: { enabled: true },
    l7Proxy: true,
    envoy: { enabled: true },
    operator: { replicas: 1 },
    image: { pullPolicy: 'IfNotPresent' },
    hubble: { enabled: false },
    // Agent metrics (cilium_policy_l7_total) prove that the ebpf cells' requests went through Envoy.
    prometheus: { enabled: true },
  };
}

/** Runs a command; on failure throws CommandError with its command line, exit code and stderr. */
export async function runCommand(command: Command, options: { allowFailure?: boolean; cwd?: string } = {}): Promise<RunResult> {
  const env = command.env;
  if (env === undefined) return run(command.cmd, command.args, { timeoutMs: command.timeoutMs, ...options });
  // exec.ts's helper has no env option: pass it through `env` (POSIX), which keeps the
  // command line readable in error messages.
  return run('env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), command.cmd, ...command.args], {
    timeoutMs: command.timeoutMs,
    ...options,
  });
}

/** The command as a shell would show it (for logs and the run's commands.log). */
export function commandLine(command: Command): string {
  const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const env = Object.entries(command.env ?? {}).map(([k, v]) => `${k}=${quote(v)} `).join('');
  return `${env}${[command.cmd, ...command.args].map(quote).join(' ')}`;
}
