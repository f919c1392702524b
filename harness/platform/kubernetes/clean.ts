// `meshbench clean --platform kind|kubernetes`: what kind/kubernetes runs left behind.
// kind: clusters named meshbench-<run>-<flavour>; kubernetes (a context): namespaces
// labelled meshbench.io/run. A run whose owner process still runs is left alone unless
// forced. Nothing is looked for with tools that are not there.
import { HostError } from '../../errors.ts';
import { kindDeleteCluster, kindGetClusters, runCommand } from './commands.ts';
import { KubeClient } from './kube.ts';
import { RUN_LABEL, parseKindClusterName } from './names.ts';
import { liveKubeRuns } from './state.ts';
import { toolStatus } from './tools.ts';

export interface KubeCleanReport {
  removed: Array<{ runId: string; resource: string }>;
  skippedLive: string[];
  errors: string[];
  /** Why nothing was looked for (a tool is missing). */
  skipped?: string;
  dryRun: boolean;
}

/** The run-named kind clusters among `kind get clusters` output, by run id. */
export function runKindClusters(kindGetClustersOutput: string, onlyRunId?: string): Array<{ name: string; runId: string }> {
  return kindGetClustersOutput
    .split('\n')
    .map((line) => line.trim())
    .flatMap((name) => {
      const parsed = parseKindClusterName(name);
      return parsed && (!onlyRunId || parsed.runId === onlyRunId) ? [{ name, runId: parsed.runId }] : [];
    });
}

export async function cleanKind(options: { dryRun: boolean; runId?: string; force?: boolean }): Promise<KubeCleanReport> {
  const report: KubeCleanReport = { removed: [], skippedLive: [], errors: [], dryRun: options.dryRun };
  for (const tool of ['kind', 'docker-engine'] as const) {
    const status = await toolStatus(tool);
    if (!status.present) {
      report.skipped = `no kind clusters looked for: ${status.detail}`;
      return report;
    }
  }
  const listed = await runCommand(kindGetClusters());
  const live = liveKubeRuns();
  for (const cluster of runKindClusters(listed.stdout, options.runId)) {
    if (live.has(cluster.runId) && !options.force) {
      if (!report.skippedLive.includes(cluster.runId)) report.skippedLive.push(cluster.runId);
      continue;
    }
    if (!options.dryRun) {
      try {
        await runCommand(kindDeleteCluster({ name: cluster.name }));
      } catch (error) {
        report.errors.push(`kind cluster ${cluster.name}: ${(error as Error).message}`);
        continue;
      }
    }
    report.removed.push({ runId: cluster.runId, resource: `kind cluster ${cluster.name}` });
  }
  return report;
}

export async function cleanKubernetes(options: { context: string; dryRun: boolean; runId?: string; force?: boolean }): Promise<KubeCleanReport> {
  const report: KubeCleanReport = { removed: [], skippedLive: [], errors: [], dryRun: options.dryRun };
  const kube = KubeClient.forContext(options.context);
  let namespaces: string[];
  try {
    namespaces = await kube.namespaces(options.runId ? `${RUN_LABEL}=${options.runId}` : RUN_LABEL);
  } catch (error) {
    throw new HostError(`cannot list namespaces on context "${options.context}": ${(error as Error).message}`);
  }
  const live = liveKubeRuns();
  for (const name of namespaces) {
    const runId = /^mb-([0-9a-z]{5})-/.exec(name)?.[1] ?? '?';
    if (live.has(runId) && !options.force) {
      if (!report.skippedLive.includes(runId)) report.skippedLive.push(runId);
      continue;
    }
    if (!options.dryRun) {
      try {
        await kube.deleteNamespace(name, { timeoutMs: 5 * 60_000 });
      } catch (error) {
        report.errors.push(`namespace ${name}: ${(error as Error).message}`);
        continue;
      }
    }
    report.removed.push({ runId, resource: `namespace ${name} (context ${options.context})` });
  }
  return report;
}

export function formatKubeCleanReport(report: KubeCleanReport): string {
  const lines: string[] = [];
  const verb = report.dryRun ? 'would remove' : 'removed';
  for (const { runId, resource } of report.removed) lines.push(`${verb} [run ${runId}] ${resource}`);
  for (const runId of report.skippedLive) lines.push(`left run ${runId} alone: it is still running (use --force to remove it anyway)`);
  for (const error of report.errors) lines.push(`error: ${error}`);
  if (report.skipped) lines.push(report.skipped);
  if (lines.length === 0) lines.push('nothing to clean: no meshbench clusters or namespaces');
  return lines.join('\n');
}
