// What the probes themselves cost: BPF programs run in the context of the tasks they trace,
// so their CPU never shows in the loader's own /proc figures. The kernel counts it when
// `kernel.bpf_stats_enabled` is on (run_time_ns / run_cnt per program); we turn it on for
// the run and restore the previous value afterwards.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run } from '../exec.ts';

const BPF_STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/** Turns kernel BPF run-time accounting on; returns the function that restores the old value. */
export function enableBpfStats(): () => void {
  let previous: string;
  try {
    previous = readFileSync(BPF_STATS_SYSCTL, 'utf8').trim();
    if (previous !== '1') writeFileSync(BPF_STATS_SYSCTL, '1');
  } catch {
    return () => {};
  }
  return () => {
    if (previous !== '1') {
      try {
        writeFileSync(BPF_STATS_SYSCTL, previous);
      } catch {
        /* best effort */
      }
    }
  };
}

/** Program ids a process holds open (from /proc/PID/fdinfo `prog_id:` lines). */
export function programIdsOf(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const m = /^prog_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  return [...ids];
}

export interface BpfRunTime {
  runTimeNs: number;
  runCount: number;
}

/** Total run time and invocations of the given BPF programs so far (needs bpf_stats on). */
export async function bpfRunTime(programIds: readonly number[]): Promise<BpfRunTime> {
  if (programIds.length === 0) return { runTimeNs: 0, runCount: 0 };
  const r = await run('bpftool', ['-j', 'prog', 'show'], { allowFailure: true });
  if (r.exitCode !== 0) return { runTimeNs: 0, runCount: 0 };
  const wanted = new Set(programIds);
  let runTimeNs = 0;
  let runCount = 0;
  for (const prog of JSON.parse(r.stdout || '[]') as Array<{ id: number; run_time_ns?: number; run_cnt?: number }>) {
    if (!wanted.has(prog.id)) continue;
    runTimeNs += prog.run_time_ns ?? 0;
    runCount += prog.run_cnt ?? 0;
  }
  return { runTimeNs, runCount };
}

/**
 * The hooks' framework cost — tracepoint and cgroup dispatch around each program run, which
 * bpf_stats does not count — as measured on/off by `npm run bench:probes` on this host
 * (CPU per request with the probes on, minus off, minus bpf_stats), per program invocation.
 */
export const FRAMEWORK_COST_FILE = fileURLToPath(new URL('../../bench/probe-cost.json', import.meta.url));

export interface FrameworkCost {
  frameworkNsPerInvocation: number;
  measuredAt: string;
  by: string;
  throughputRatio?: number;
}

/** The last measured framework cost, or undefined when bench:probes never ran here. */
export function frameworkCost(): FrameworkCost | undefined {
  try {
    const cost = JSON.parse(readFileSync(FRAMEWORK_COST_FILE, 'utf8')) as FrameworkCost;
    return Number.isFinite(cost.frameworkNsPerInvocation) ? cost : undefined;
  } catch {
    return undefined;
  }
}

/** A cell's framework cost from its invocations, with where the per-invocation figure comes from. */
export function frameworkCostOf(invocations: number): { frameworkSeconds?: number; frameworkNsPerInvocation?: number; frameworkMeasuredAt?: string } {
  const cost = frameworkCost();
  if (!cost) return {};
  return {
    frameworkSeconds: Number(((Math.max(0, cost.frameworkNsPerInvocation) * invocations) / 1e9).toFixed(6)),
    frameworkNsPerInvocation: cost.frameworkNsPerInvocation,
    frameworkMeasuredAt: cost.measuredAt,
  };
}
