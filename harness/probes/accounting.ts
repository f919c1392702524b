// The probes that need no BPF program: CPU and run-queue totals from the kernel's own
// accounting, read at the window's start and end. A histogram needs a hook on every
// context switch of the host (sched_switch, sched_wakeup: what cost the first probes ~11 %
// of throughput); a total per component does not:
//   cpu    cgroup v2 cpu.stat (usage, user, system) of the component's own cgroup, which
//          counts exited threads too; schedstat of its threads when tracked by tgid only
//   runq   /proc/<pid>/task/*/schedstat: run_delay (ns runnable but waiting) and pcount
//          (times switched in), summed over the component's threads
//   host   /proc/stat per CPU (user, system, softirq, irq, idle), for the kernel and softirq
//          time of the whole path, which no per-process figure holds
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../exec.ts';
import { bpfRunTime } from './cost.ts';
import type { ComponentProbeFigures, CpuTimes, TrackedComponent } from './types.ts';

const USER_HZ = 100; // /proc/stat is in USER_HZ ticks on every Linux architecture

interface CgroupCpu {
  usageUs: number;
  userUs: number;
  systemUs: number;
}

/** cgroup v2 cpu.stat of one directory; undefined when it is gone. */
export function cgroupCpuStat(dir: string): CgroupCpu | undefined {
  try {
    const text = readFileSync(join(dir, 'cpu.stat'), 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    const stat = { usageUs: field('usage_usec'), userUs: field('user_usec'), systemUs: field('system_usec') };
    return Number.isFinite(stat.usageUs) ? stat : undefined;
  } catch {
    return undefined;
  }
}

/** Every pid in a cgroup v2 directory and below. */
export function cgroupProcs(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string): void => {
    try {
      for (const line of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.push(Number(line));
      for (const entry of readdirSync(d, { withFileTypes: true })) if (entry.isDirectory()) walk(join(d, entry.name));
    } catch {
      /* gone meanwhile */
    }
  };
  walk(dir);
  return pids;
}

export interface SchedTotals {
  runNs: number;
  waitNs: number;
  timeslices: number;
}

/** schedstat of every thread of the given processes, summed. */
export function schedTotals(pids: readonly number[]): SchedTotals {
  const total = { runNs: 0, waitNs: 0, timeslices: 0 };
  for (const pid of pids) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const [run, wait, slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
        total.runNs += run ?? 0;
        total.waitNs += wait ?? 0;
        total.timeslices += slices ?? 0;
      } catch {
        /* the thread exited */
      }
    }
  }
  return total;
}

/** Per CPU ticks from /proc/stat: user+nice, system, irq, softirq, idle+iowait. */
export function procStatCpus(): Record<string, CpuTimes> {
  const cpus: Record<string, CpuTimes> = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0] = m[2]!.trim().split(/\s+/).map(Number);
    cpus[m[1]!] = {
      userSeconds: (user + nice) / USER_HZ,
      systemSeconds: system / USER_HZ,
      irqSeconds: irq / USER_HZ,
      softirqSeconds: softirq / USER_HZ,
      idleSeconds: (idle + iowait) / USER_HZ,
    };
  }
  return cpus;
}

function cpuDelta(a: Record<string, CpuTimes>, b: Record<string, CpuTimes>): Record<string, CpuTimes> {
  const out: Record<string, CpuTimes> = {};
  const r = (x: number): number => Number(x.toFixed(2));
  for (const [cpu, end] of Object.entries(b)) {
    const start = a[cpu];
    if (!start) continue;
    out[cpu] = {
      userSeconds: r(end.userSeconds - start.userSeconds),
      systemSeconds: r(end.systemSeconds - start.systemSeconds),
      irqSeconds: r(end.irqSeconds - start.irqSeconds),
      softirqSeconds: r(end.softirqSeconds - start.softirqSeconds),
      idleSeconds: r(end.idleSeconds - start.idleSeconds),
    };
  }
  return out;
}

/** BPF programs attached to a cgroup that are not the probes' own (mbp_*): the data path's. */
export async function datapathPrograms(cgroupDir: string): Promise<Array<{ id: number; name: string }>> {
  const r = await run('bpftool', ['-j', 'cgroup', 'show', cgroupDir], { allowFailure: true });
  if (r.exitCode !== 0) return [];
  try {
    const progs = JSON.parse(r.stdout || '[]') as Array<{ id: number; name?: string }>;
    return progs.filter((p) => !(p.name ?? '').startsWith('mbp_')).map((p) => ({ id: p.id, name: p.name ?? `prog ${p.id}` }));
  } catch {
    return [];
  }
}

function bpfStatsOn(): boolean {
  try {
    return readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

interface ComponentReading {
  cgroup?: CgroupCpu;
  sched: SchedTotals;
}

interface Reading {
  components: Map<string, ComponentReading>;
  cpus: Record<string, CpuTimes>;
  datapath?: { runTimeNs: number; runCount: number };
}

/** The accounting side of a probe session: reads at start, differences at each snapshot. */
export class Accounting {
  private readonly tracked = new Map<string, TrackedComponent>();
  private start: Reading | undefined;
  private datapath: Array<{ id: number; name: string }> = [];

  constructor(
    readonly cpu: boolean,
    readonly runq: boolean,
  ) {}

  track(component: TrackedComponent): void {
    const known = this.tracked.get(component.id);
    this.tracked.set(component.id, {
      id: component.id,
      tgids: [...new Set([...(known?.tgids ?? []), ...(component.tgids ?? [])])],
      cgroupDir: component.cgroupDir ?? known?.cgroupDir,
    });
  }

  async attachCgroup(dir: string): Promise<void> {
    this.datapath = await datapathPrograms(dir);
  }

  private pidsOf(c: TrackedComponent): number[] {
    return [...new Set([...(c.tgids ?? []), ...(c.cgroupDir ? cgroupProcs(c.cgroupDir) : [])])];
  }

  private async read(): Promise<Reading> {
    const components = new Map<string, ComponentReading>();
    for (const c of this.tracked.values()) {
      components.set(c.id, { cgroup: c.cgroupDir ? cgroupCpuStat(c.cgroupDir) : undefined, sched: schedTotals(this.pidsOf(c)) });
    }
    const datapath = this.datapath.length > 0 && bpfStatsOn() ? await bpfRunTime(this.datapath.map((p) => p.id)) : undefined;
    return { components, cpus: procStatCpus(), datapath };
  }

  async begin(): Promise<void> {
    this.start = await this.read();
  }

  /** Figures since begin(): per component, and the host's CPUs; empty before begin(). */
  async figures(): Promise<{
    components: Record<string, ComponentProbeFigures>;
    hostCpus?: Record<string, CpuTimes>;
    datapathBpf?: { programs: string[]; runTimeNs: number; runCount: number };
  }> {
    const start = this.start;
    if (!start) return { components: {} };
    const now = await this.read();
    const components: Record<string, ComponentProbeFigures> = {};
    for (const [id, end] of now.components) {
      const begin = start.components.get(id);
      if (!begin) continue;
      const figures: ComponentProbeFigures = {};
      if (this.cpu) {
        if (begin.cgroup && end.cgroup) {
          figures.cpuSeconds = (end.cgroup.usageUs - begin.cgroup.usageUs) / 1e6;
          figures.userSeconds = (end.cgroup.userUs - begin.cgroup.userUs) / 1e6;
          figures.systemSeconds = (end.cgroup.systemUs - begin.cgroup.systemUs) / 1e6;
        } else {
          figures.cpuSeconds = Math.max(0, end.sched.runNs - begin.sched.runNs) / 1e9;
        }
      }
      if (this.runq) {
        const waitNs = Math.max(0, end.sched.waitNs - begin.sched.waitNs);
        const timeslices = Math.max(0, end.sched.timeslices - begin.sched.timeslices);
        figures.runqueue = {
          waitSeconds: waitNs / 1e9,
          timeslices,
          ...(timeslices > 0 ? { meanWaitUs: Math.round((waitNs / timeslices / 1000) * 100) / 100 } : {}),
        };
      }
      components[id] = figures;
    }
    return {
      components,
      hostCpus: cpuDelta(start.cpus, now.cpus),
      ...(start.datapath && now.datapath
        ? {
            datapathBpf: {
              programs: this.datapath.map((p) => p.name),
              runTimeNs: now.datapath.runTimeNs - start.datapath.runTimeNs,
              runCount: now.datapath.runCount - start.datapath.runCount,
            },
          }
        : {}),
    };
  }
}
