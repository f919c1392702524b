// Facts about processes and network namespaces read straight from /proc, without starting
// a process per question (with 100 pods, `ip netns pids` per namespace costs more than the
// teardown it serves): which processes are in which namespace, and a process's CPU time,
// wake-ups and resident memory, per thread where the kernel keeps them per thread.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

/** Inode of a named network namespace (`/run/netns/NAME`), or undefined when there is none. */
export function netnsInode(name: string): number | undefined {
  try {
    return statSync(`/run/netns/${name}`).ino;
  } catch {
    return undefined;
  }
}

/** Inode of the network namespace a process is in, or undefined when it is gone. */
export function processNetnsInode(pid: number): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Every pid on the host whose network namespace is one of `inodes`, by inode. */
export function pidsInNetnsInodes(inodes: ReadonlySet<number>): Map<number, number[]> {
  const found = new Map<number, number[]>();
  if (inodes.size === 0) return found;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ino = processNetnsInode(pid);
    if (ino !== undefined && inodes.has(ino)) found.set(ino, [...(found.get(ino) ?? []), pid]);
  }
  return found;
}

/** On-CPU time of every thread of a process, ns (/proc/PID/task/*\/schedstat); undefined when gone. */
export function processCpuNs(pid: number): number | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let ns = 0;
  for (const tid of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* the thread exited */
    }
  }
  return ns;
}

/**
 * Context switches of every thread of a process, voluntary (it slept and was woken: a
 * wake-up) and involuntary (preempted); undefined when gone.
 */
export function processContextSwitches(pid: number): { voluntary: number; involuntary: number } | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const total = { voluntary: 0, involuntary: 0 };
  for (const tid of tasks) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      total.voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      total.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      /* the thread exited */
    }
  }
  return total;
}

/** Resident memory of a process (VmRSS), bytes; undefined when gone. */
export function processRssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
