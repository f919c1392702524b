// eBPF programs a run attached to a cgroup, undone from what is pinned: every program pinned
// under `<pinDir>/progs` that is attached to the cgroup is detached, then the pins go. A
// data path's programs (the socket LB, or any other a mesh loads) are removed the same way,
// so the platform's teardown needs to know no mesh.
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../exec.ts';

interface CgroupProgram {
  id: number;
  attach_type: string;
  name: string;
}

async function pinnedProgramIds(pinDir: string): Promise<Set<number>> {
  const ids = new Set<number>();
  const progs = join(pinDir, 'progs');
  if (!existsSync(progs)) return ids;
  for (const pin of readdirSync(progs)) {
    const r = await run('bpftool', ['-j', 'prog', 'show', 'pinned', join(progs, pin)], { allowFailure: true });
    if (r.exitCode === 0) ids.add((JSON.parse(r.stdout) as { id: number }).id);
  }
  return ids;
}

/** Programs attached to a cgroup v2 directory, as bpftool lists them. */
export async function cgroupPrograms(cgroupDir: string): Promise<CgroupProgram[]> {
  const { stdout } = await run('bpftool', ['-j', 'cgroup', 'show', cgroupDir]);
  // bpftool 7.1 prints nothing at all (not "[]") for a cgroup without programs.
  return stdout.trim() === '' ? [] : (JSON.parse(stdout) as CgroupProgram[]);
}

/** Detaches from cgroupDir every program pinned under pinDir, then removes pinDir. Idempotent. */
export async function detachPinnedPrograms(pinDir: string, cgroupDir: string): Promise<void> {
  if (existsSync(cgroupDir)) {
    const pinned = await pinnedProgramIds(pinDir);
    for (const attached of await cgroupPrograms(cgroupDir)) {
      if (!pinned.has(attached.id)) continue;
      // attach_type as bpftool prints it (e.g. cgroup_inet4_connect) is accepted back by detach.
      await run('bpftool', ['cgroup', 'detach', cgroupDir, attached.attach_type, 'id', String(attached.id)]);
    }
  }
  await rm(pinDir, { recursive: true, force: true });
}
