// `meshbench clean`: finds what runs left on this host — from their state files and, after a
// crash that lost them, from resource names — and removes it. A run whose owner process is
// still alive is left alone unless forced.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../exec.ts';
import {
  BPFFS_ROOT, CGROUP_V1_MEMORY_ROOT, CGROUP_V2_ROOT, LIVE_RUNS_DIR, bpfPinDir, cgroupV1MemoryDir, cgroupV2Dir,
  runIdOfNetns,
} from './names.ts';
import { LIVE_SUFFIX, liveRuns, staleClaims } from './liveRuns.ts';
import { isSameProcess, liveStatePath, processStartTime, readState, resourceKey, type Resource } from './state.ts';
import { setPriority } from 'node:os';
import { cgroupPids, isDirectory, removeResource } from './teardown.ts';

export interface LeftoverRun {
  runId: string;
  /** The run's owner is still running: it is not a leftover. */
  live: boolean;
  /** The owner's pid, when the run's state file was found. */
  ownerPid?: number;
  resources: Resource[];
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

async function netnsNames(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFailure: true });
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('mb-'));
}

/** Everything of every run found on this host, grouped by run id, in removal order. */
export async function findLeftovers(onlyRunId?: string): Promise<LeftoverRun[]> {
  const byRun = new Map<string, Resource[]>();
  const add = (runId: string, r: Resource): void => {
    if (onlyRunId && runId !== onlyRunId) return;
    const list = byRun.get(runId) ?? [];
    if (!list.some((x) => resourceKey(x) === resourceKey(r))) list.push(r);
    byRun.set(runId, list);
  };
  const runIds = new Set<string>();
  for (const name of await netnsNames()) {
    const id = runIdOfNetns(name);
    if (id) runIds.add(id);
  }
  for (const root of [CGROUP_V2_ROOT, CGROUP_V1_MEMORY_ROOT, BPFFS_ROOT]) for (const id of listDir(root)) runIds.add(id);
  // Pointers (<run>.state), claims (<run>.live) and per-run dirs; not the host-wide journal.
  for (const entry of listDir(LIVE_RUNS_DIR)) {
    const m = /^([0-9a-z]{5})(?:\.state|\.live)?$/.exec(entry);
    if (m) runIds.add(m[1]!);
  }
  const claimedLive = new Set(liveRuns().map((claim) => claim.runId));
  const staleClaimPaths = new Map(staleClaims().map((claim) => [claim.runId, claim.path]));

  const netns = await netnsNames();
  const leftovers: LeftoverRun[] = [];
  for (const runId of [...runIds].sort()) {
    if (onlyRunId && runId !== onlyRunId) continue;
    const statePath = liveStatePath(runId);
    const state = statePath ? readState(statePath) : undefined;
    const live = (state !== undefined && isSameProcess(state.ownerPid, state.ownerStartTime)) || claimedLive.has(runId);
    // Registered resources first (in reverse order of creation), then whatever names reveal.
    for (const r of [...(state?.resources ?? [])].reverse()) add(runId, r);
    // A process is listed once: the one registered, or the one found in the cgroups (a pid in
    // both cgroup trees, v2 and the v1 memory mirror, is still one process).
    const listedPids = new Set((byRun.get(runId) ?? []).flatMap((r) => (r.kind === 'process' ? [r.pid] : [])));
    for (const pid of new Set([...cgroupPids(cgroupV2Dir(runId)), ...cgroupPids(cgroupV1MemoryDir(runId))])) {
      if (listedPids.has(pid)) continue;
      listedPids.add(pid);
      add(runId, { kind: 'process', pid, startTime: processStartTime(pid) ?? 0, name: `pid ${pid} in the run's cgroups` });
    }
    if (isDirectory(bpfPinDir(runId))) {
      add(runId, { kind: 'bpf-attach', pinDir: bpfPinDir(runId, 'socklb'), cgroupDir: cgroupV2Dir(runId) });
      add(runId, { kind: 'bpf-pin', path: bpfPinDir(runId) });
    }
    for (const name of netns.filter((n) => runIdOfNetns(n) === runId && !n.endsWith('-node'))) add(runId, { kind: 'netns', name });
    for (const name of netns.filter((n) => runIdOfNetns(n) === runId && n.endsWith('-node'))) add(runId, { kind: 'netns', name });
    for (const path of [cgroupV2Dir(runId), cgroupV1MemoryDir(runId)]) if (isDirectory(path)) add(runId, { kind: 'cgroup', path });
    if (isDirectory(join(LIVE_RUNS_DIR, runId))) add(runId, { kind: 'dir', path: join(LIVE_RUNS_DIR, runId) });
    if (existsSync(join(LIVE_RUNS_DIR, `${runId}.state`))) add(runId, { kind: 'dir', path: join(LIVE_RUNS_DIR, `${runId}.state`) });
    const staleClaim = staleClaimPaths.get(runId);
    if (staleClaim !== undefined) add(runId, { kind: 'dir', path: staleClaim });
    else if (live && existsSync(join(LIVE_RUNS_DIR, `${runId}${LIVE_SUFFIX}`))) add(runId, { kind: 'dir', path: join(LIVE_RUNS_DIR, `${runId}${LIVE_SUFFIX}`) });
    const resources = (byRun.get(runId) ?? []).filter(stillThere);
    if (resources.length > 0) leftovers.push({ runId, live, ownerPid: state?.ownerPid, resources });
  }
  return leftovers;
}

function stillThere(r: Resource): boolean {
  switch (r.kind) {
    case 'process':
      return r.startTime === 0 ? existsSync(`/proc/${r.pid}`) : isSameProcess(r.pid, r.startTime);
    case 'cgroup':
    case 'bpf-pin':
    case 'dir':
      return existsSync(r.path);
    case 'bpf-attach':
      return existsSync(r.cgroupDir);
    case 'netns':
      return existsSync(`/run/netns/${r.name}`);
  }
}

export function describeResource(r: Resource): string {
  switch (r.kind) {
    case 'process': return `process ${r.pid} (${r.name})`;
    case 'netns': return `network namespace ${r.name}`;
    case 'cgroup': return `cgroup ${r.path}`;
    case 'bpf-pin': return `pinned bpf objects ${r.path}`;
    case 'bpf-attach': return `bpf programs attached to ${r.cgroupDir}`;
    case 'dir': return `run files ${r.path}`;
  }
}

export interface CleanReport {
  removed: Array<{ runId: string; resource: string }>;
  skippedLive: string[];
  errors: string[];
  dryRun: boolean;
}

/**
 * clean may run while a run measures (it leaves that run alone): its scan and removals must
 * not take CPU from that run's driver and pods, so it yields the CPUs to them — nice 19, and
 * SCHED_IDLE where `chrt` exists (a SCHED_IDLE task runs only when nothing else wants the
 * CPU, and never delays a waking proxy). Its children (ip, iptables) inherit both.
 */
export async function yieldCpuToRuns(): Promise<void> {
  try {
    setPriority(19);
  } catch {
    /* not permitted: stays at its priority */
  }
  await run('chrt', ['--all-tasks', '--idle', '--pid', '0', String(process.pid)], { allowFailure: true }).catch(() => undefined);
}

export async function clean(options: { dryRun: boolean; runId?: string; force?: boolean; yieldCpu?: boolean }): Promise<CleanReport> {
  // Not for a run cleaning its own leftovers (--resume): its children would inherit SCHED_IDLE.
  if (options.yieldCpu) await yieldCpuToRuns();
  const report: CleanReport = { removed: [], skippedLive: [], errors: [], dryRun: options.dryRun };
  for (const leftover of await findLeftovers(options.runId)) {
    if (leftover.live && !options.force) {
      report.skippedLive.push(leftover.runId);
      continue;
    }
    for (const resource of leftover.resources) {
      if (!options.dryRun) {
        try {
          await removeResource(resource);
        } catch (err) {
          report.errors.push(`${describeResource(resource)}: ${(err as Error).message}`);
          continue;
        }
      }
      report.removed.push({ runId: leftover.runId, resource: describeResource(resource) });
    }
  }
  // Empty parent directories of the layout are removed too, so nothing named meshbench stays.
  if (!options.dryRun && !options.runId) {
    for (const root of [CGROUP_V2_ROOT, CGROUP_V1_MEMORY_ROOT, BPFFS_ROOT]) {
      // A cgroup directory always holds its control files: empty means no child directories.
      if (isDirectory(root) && !listDir(root).some((entry) => isDirectory(join(root, entry)))) {
        try {
          await removeResource(root.startsWith('/sys/fs/cgroup') ? { kind: 'cgroup', path: root } : { kind: 'dir', path: root });
        } catch (err) {
          report.errors.push(`${root}: ${(err as Error).message}`);
        }
      }
    }
  }
  return report;
}

export function formatCleanReport(report: CleanReport): string {
  const lines: string[] = [];
  const verb = report.dryRun ? 'would remove' : 'removed';
  for (const { runId, resource } of report.removed) lines.push(`${verb} [run ${runId}] ${resource}`);
  for (const runId of report.skippedLive) lines.push(`left run ${runId} alone: it is still running (use --force to remove it anyway)`);
  for (const error of report.errors) lines.push(`error: ${error}`);
  if (lines.length === 0) lines.push('nothing to clean: no meshbench resources on this host');
  return lines.join('\n');
}
