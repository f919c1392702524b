// Removing many network namespaces at once: a 100-pod cell has 102 of them, and removing
// them one by one (`ip netns list`, `ip netns pids`, `ip netns del`: three processes each)
// takes longer than everything else in its teardown. Here: one pass over /proc for the
// processes still inside any of them (killed first, so no namespace outlives its name),
// then one `ip -batch` of `netns del`.
import { run } from '../../exec.ts';
import { netnsInode, pidsInNetnsInodes } from './procfs.ts';
import { killProcessGroup } from './teardown.ts';

/** Deletes the named namespaces that exist; returns the names that are gone afterwards. */
export async function removeNetnsMany(names: readonly string[]): Promise<string[]> {
  const inodes = new Map<number, string>();
  for (const name of names) {
    const ino = netnsInode(name);
    if (ino !== undefined) inodes.set(ino, name);
  }
  const stray = [...pidsInNetnsInodes(new Set(inodes.keys())).values()].flat().filter((pid) => pid !== process.pid);
  await Promise.all(stray.map((pid) => killProcessGroup(pid, 500)));
  const existing = [...inodes.values()];
  if (existing.length > 0) {
    // -force: go on after a failing line; what failed is still there and is reported by the caller.
    await run('ip', ['-force', '-batch', '-'], { input: existing.map((n) => `netns del ${n}`).join('\n') + '\n', allowFailure: true });
  }
  return names.filter((name) => netnsInode(name) === undefined);
}
