// Removing host resources, one kind at a time. Used by a run's own teardown and by
// `meshbench clean` (which may find the same resources from names alone, after a crash).
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../exec.ts';
import { detachPinnedPrograms } from './bpfAttach.ts';
import { isSameProcess, type Resource } from './state.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM a process group (and the process), then SIGKILL whatever is left after graceMs. */
export async function killProcessGroup(pid: number, graceMs = 2000): Promise<void> {
  signal(pid, 'SIGTERM', true);
  signal(pid, 'SIGTERM', false);
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(20);
  signal(pid, 'SIGKILL', true);
  signal(pid, 'SIGKILL', false);
  const killDeadline = Date.now() + 2000;
  while (alive(pid) && Date.now() < killDeadline) await sleep(10);
}

/** Every pid in a cgroup directory and its descendants. */
export function cgroupPids(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string): void => {
    try {
      for (const line of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) {
        if (line.trim()) pids.push(Number(line));
      }
      for (const entry of readdirSync(d, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(d, entry.name));
      }
    } catch {
      /* gone */
    }
  };
  walk(dir);
  return pids;
}

async function killCgroup(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const pids = cgroupPids(dir).filter((p) => p !== process.pid);
    if (pids.length === 0) return;
    for (const pid of pids) signal(pid, attempt === 0 ? 'SIGTERM' : 'SIGKILL', false);
    const deadline = Date.now() + 1500;
    while (pids.some(alive) && Date.now() < deadline) await sleep(20);
  }
}

/** rmdir a cgroup tree bottom-up (cgroup dirs can only be removed empty of children and tasks). */
async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  await killCgroup(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await removeCgroupTree(join(dir, entry.name));
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      if (attempt === 19) throw err;
      await sleep(50); // a task that just exited can hold the cgroup for a moment
    }
  }
}

export async function netnsPids(name: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', name], { allowFailure: true });
  return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
}

async function removeNetns(name: string): Promise<void> {
  const list = await run('ip', ['netns', 'list']);
  if (!list.stdout.split('\n').some((l) => l.split(' ')[0] === name)) return;
  for (const pid of await netnsPids(name)) await killProcessGroup(pid, 500);
  // Deleting the netns removes its veths (and their peers) and all its iptables rules.
  await run('ip', ['netns', 'del', name]);
}

export async function removeResource(r: Resource): Promise<void> {
  switch (r.kind) {
    case 'process':
      if (isSameProcess(r.pid, r.startTime)) await killProcessGroup(r.pid);
      return;
    case 'netns':
      return removeNetns(r.name);
    case 'cgroup':
      return removeCgroupTree(r.path);
    case 'bpf-attach':
      return detachPinnedPrograms(r.pinDir, r.cgroupDir);
    case 'dir':
    case 'bpf-pin':
      if (existsSync(r.path)) rmSync(r.path, { recursive: true, force: true });
      return;
  }
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
