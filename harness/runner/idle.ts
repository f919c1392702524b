// The idle window of a cell (scenario `idle`): after the cluster, the mesh and the apps are
// up and before the load driver starts, nothing happens for a while, and every component's
// memory, CPU and wake-ups are recorded — what a data path costs a node even when its
// services are quiet (sidecars do not sleep for free).
//
// It is a phase of every cell, not a cell of its own: the cell's pods are up anyway, a
// second bring-up per mesh × services would double the sweep's set-up time, and the load's
// window comes after it unchanged. It starts IDLE_SETTLE_MS after bring-up, so start-up work
// (a Node app's first GC, HAProxy's init) is not counted as idling.
//
// Sources: the eBPF probes where they run (memory: peak and mean RSS sampled over the
// window; cpu: on-CPU time with the softirqs served), otherwise /proc (schedstat ns per
// thread; VmRSS once at the end). Wake-ups always from /proc: voluntary context switches of
// every thread, i.e. how often the component went to sleep and was woken again.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Component } from '../mesh/types.ts';
import { processContextSwitches, processCpuNs, processRssBytes } from '../platform/local/procfs.ts';
import type { ProbeSession } from '../probes/types.ts';
import type { IdleComponentResult, IdleResult } from '../results/types.ts';

export const IDLE_SETTLE_MS = 1000;

interface Reading {
  cpuNs?: number;
  switches?: number;
}

function read(c: Component): Reading {
  const switches = processContextSwitches(c.pid);
  return { cpuNs: processCpuNs(c.pid), switches: switches?.voluntary };
}

/** Rejects with Error('aborted') when the signal fires during the wait. */
async function wait(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new Error('aborted');
  }
}

/**
 * Waits out the idle window with the probes' window open (when probes run) and returns
 * every component's figures over it. `components`: the mesh's and the apps'.
 */
export async function measureIdle(components: readonly Component[], idleMs: number, probes?: ProbeSession, signal?: AbortSignal): Promise<IdleResult> {
  if (signal?.aborted) throw new Error('aborted');
  await wait(IDLE_SETTLE_MS, signal);
  for (const c of components) await probes?.track({ id: c.id, tgids: [c.pid], cgroupDir: c.cgroupV2 });
  await probes?.start();
  const before = new Map(components.map((c) => [c.id, read(c)]));
  const t0 = performance.now();
  await wait(idleMs, signal);
  const durationMs = Math.round(performance.now() - t0);
  const after = new Map(components.map((c) => [c.id, read(c)]));
  const figures = await probes?.snapshot();
  const probeCpu = probes?.probes.includes('cpu') ?? false;
  const probeMemory = probes?.probes.includes('memory') ?? false;
  const result: Record<string, IdleComponentResult> = {};
  for (const c of components) {
    const a = before.get(c.id)!;
    const b = after.get(c.id)!;
    const probed = figures?.components[c.id];
    const entry: IdleComponentResult = { role: c.role, pod: c.pod, pids: [c.pid] };
    const cpuSeconds = probeCpu ? probed?.cpuSeconds : a.cpuNs !== undefined && b.cpuNs !== undefined ? (b.cpuNs - a.cpuNs) / 1e9 : undefined;
    if (cpuSeconds !== undefined) entry.cpuSeconds = Number(cpuSeconds.toFixed(6));
    if (a.switches !== undefined && b.switches !== undefined) entry.wakeups = b.switches - a.switches;
    if (probeMemory && probed?.memory) {
      entry.memory = probed.memory;
    } else if (!probeMemory) {
      const rss = processRssBytes(c.pid);
      if (rss !== undefined) entry.memory = { peakBytes: rss, meanBytes: rss, samples: 1 };
    }
    result[c.id] = entry;
  }
  return {
    durationMs,
    cpuSource: probeCpu ? 'probes' : 'proc',
    memorySource: probeMemory ? 'probes' : 'proc',
    components: result,
  };
}
