// Pods to cgroups, on a node: the probe agent gets container ids from the harness (which
// reads them from the pods' status) and finds each container's cgroup v2 directory under
// the node's cgroup tree by name. That works for both kubelet cgroup drivers and the
// common runtimes:
//   systemd:  …/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope  (crio-<id>.scope, docker-<id>.scope)
//   cgroupfs: …/kubepods/burstable/pod<uid>/<id>
import { readFileSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP2_SUPER_MAGIC = 0x63677270;
const MAX_DEPTH = 12;

/** `containerd://3f…` → `3f…` (the runtime prefix of a containerStatus's containerID). */
export function containerIdOf(statusContainerId: string): string {
  const id = statusContainerId.replace(/^[a-z0-9-]+:\/\//, '');
  if (!/^[0-9a-f]{12,128}$/.test(id)) throw new RangeError(`not a container id: ${statusContainerId}`);
  return id;
}

export function isCgroup2(root: string): boolean {
  try {
    return statfsSync(root).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** Does a cgroup directory name belong to this container id? */
export function cgroupNameMatches(name: string, containerId: string): boolean {
  return name === containerId || name === `${containerId}.scope` || (name.endsWith(`-${containerId}.scope`) && name.length > containerId.length + 7);
}

/**
 * Every container cgroup under root, by container id: one walk of the tree, directories
 * only. A directory whose name carries a 64-hex id is a container's; its subdirectories
 * (if any) are not searched.
 */
export function indexContainerCgroups(root: string): Map<string, string> {
  const index = new Map<string, string>();
  const walk = (dir: string, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // vanished while walking (a pod went away)
    }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const id = /(?:^|-)([0-9a-f]{64})(?:\.scope)?$/.exec(entry.name)?.[1];
      if (id !== undefined && cgroupNameMatches(entry.name, id)) index.set(id, join(dir, entry.name));
      else walk(join(dir, entry.name), depth + 1);
    }
  };
  walk(root, 0);
  return index;
}

/** The container's cgroup directory; the index is rebuilt once if the id is not in it. */
export class CgroupFinder {
  private index: Map<string, string> | undefined;
  constructor(readonly root: string) {}

  find(statusContainerId: string): string {
    const id = containerIdOf(statusContainerId);
    let dir = (this.index ??= indexContainerCgroups(this.root)).get(id);
    if (dir === undefined) {
      this.index = indexContainerCgroups(this.root);
      dir = this.index.get(id);
    }
    if (dir === undefined) throw new Error(`no cgroup for container ${id.slice(0, 12)} under ${this.root}`);
    return dir;
  }
}

/** `usage_usec` of a cgroup v2 directory's cpu.stat: CPU time of every task in it, ever. */
export function cgroupCpuUsageUs(dir: string): number {
  const text = readFileSync(join(dir, 'cpu.stat'), 'utf8');
  const match = /^usage_usec (\d+)$/m.exec(text);
  if (!match) throw new Error(`${dir}/cpu.stat has no usage_usec`);
  return Number(match[1]);
}
