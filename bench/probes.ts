// npm run bench:probes — what the eBPF probes cost the system they watch. One sidecar cell
// (the mesh with the most components to watch) is brought up once; the same load runs
// with probes off and on, alternating which goes first, several times: closed model for
// throughput, open model at a fixed rate for p50/p99. Prints the median of the pairs' on/off
// ratios (and their range), the probes' own BPF CPU per request from the kernel's bpf_stats, and the whole
// cost measured on/off: the CPU per request of every component with the probes on minus
// off. That difference less bpf_stats is the hooks' framework cost (tracepoint and cgroup
// dispatch, which bpf_stats does not count), per program invocation; it is written to
// bench/probe-cost.json, where every cell's probe cost reads it (harness/probes/cost.ts).
// The driver is the native one (the default): a Node driver is the bottleneck of a closed
// sidecar cell itself, and a ratio of a driver-bound rate would hide the probes' cost.
import { median } from 'simple-statistics';
import { LocalCluster } from '../harness/platform/local/cluster.ts';
import { newRunId } from '../harness/platform/local/names.ts';
import { StateFile } from '../harness/platform/local/state.ts';
import { enableBpfStats, FRAMEWORK_COST_FILE, frameworkCost } from '../harness/probes/cost.ts';
import { PROBE_NAMES } from '../harness/probes/types.ts';
import { startProbes } from '../harness/probes/index.ts';
import { DEFAULT_SAMPLE_EVERY } from '../harness/probes/session.ts';
import { Haproxy } from '../harness/proxy/haproxy.ts';
import { bringUp, driveLoad, type LiveCell } from '../harness/runner/cell.ts';
import type { Scenario } from '../harness/scenario/types.ts';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** Pairs (on and off, next to each other); a pair's ratio moves ±3-5 % on a quiet 2-core host, so 8 of them. */
const REPETITIONS = Number(process.env.BENCH_PROBES_REPETITIONS ?? 8);
const DURATION_MS = 5000;
/** The dwell probe's sampling for this measurement (loader --sample-every); default the harness's. */
const SAMPLE_EVERY = Number(process.env.BENCH_PROBES_SAMPLE_EVERY ?? DEFAULT_SAMPLE_EVERY);

function scenario(model: 'open' | 'closed'): Scenario {
  return {
    name: 'bench-probes',
    platform: 'local',
    meshes: ['sidecar'],
    protocols: ['http1'],
    services: [1],
    repeats: 1,
    probes: [...PROBE_NAMES],
    workload: { responseBytes: 1024, delayUs: 0 },
    load: model === 'closed'
      ? { model, connections: 16, durationMs: DURATION_MS, warmupMs: 1000, driver: 'native' }
      : { model, rate: 400, connections: 8, durationMs: DURATION_MS, warmupMs: 1000, driver: 'native' },
  };
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  bpfUsPerRequest?: number;
  /** BPF program invocations per request (bpf_stats run_cnt). */
  invocationsPerRequest?: number;
  /** CPU of every component (/proc utime+stime over the measured window) per request. */
  cpuUsPerRequest: number;
}

async function measure(live: LiveCell, model: 'open' | 'closed', withProbes: boolean): Promise<Sample> {
  const probes = withProbes ? await startProbes({ probes: PROBE_NAMES, sampleEvery: SAMPLE_EVERY }) : undefined;
  try {
    const r = await driveLoad(live, scenario(model), undefined, probes);
    const requests = r.outcome.requests + r.outcome.non2xx;
    const cpuSeconds = Object.values(r.cpuSeconds).reduce((t, s) => t + s, 0);
    return {
      rps: r.outcome.achievedRps,
      p50: r.outcome.latencyUs.p50,
      p99: r.outcome.latencyUs.p99,
      bpfUsPerRequest: r.probeCost ? (r.probeCost.bpfSeconds * 1e6) / Math.max(1, requests) : undefined,
      invocationsPerRequest: r.probeCost ? r.probeCost.bpfInvocations / Math.max(1, requests) : undefined,
      cpuUsPerRequest: (cpuSeconds * 1e6) / Math.max(1, requests),
    };
  } finally {
    await probes?.kill();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:probes needs root');
  const runId = newRunId();
  const stateDir = mkdtempSync(join(tmpdir(), 'meshbench-bench-probes-'));
  const state = new StateFile(join(stateDir, 'state.json'), runId);
  const cluster = new LocalCluster(runId, state);
  const restoreBpfStats = enableBpfStats();
  const stop = (): void => void cluster.down().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const live = await bringUp({ mesh: 'sidecar', services: 1 }, { runId, state, proxy: new Haproxy(), scenario: scenario('open') }, cluster);
    const samples = { closed: { off: [] as Sample[], on: [] as Sample[] }, open: { off: [] as Sample[], on: [] as Sample[] } };
    for (let i = 0; i < REPETITIONS; i++) {
      for (const model of ['closed', 'open'] as const) {
        // Alternate which goes first, so drift of the host hits both alike.
        const order = i % 2 === 0 ? [false, true] : [true, false];
        for (const withProbes of order) {
          const s = await measure(live, model, withProbes);
          samples[model][withProbes ? 'on' : 'off'].push(s);
          process.stderr.write(
            `[${i + 1}/${REPETITIONS}] ${model.padEnd(6)} probes ${withProbes ? 'on ' : 'off'}: ${Math.round(s.rps)} rps, p50 ${Math.round(s.p50)} µs, p99 ${Math.round(s.p99)} µs` +
              (s.bpfUsPerRequest !== undefined ? `, probes ${s.bpfUsPerRequest.toFixed(2)} µs BPF CPU/request` : '') +
              '\n',
          );
        }
      }
    }
    // Each pair's on/off ratio (its two runs are next to each other, so the host's drift
    // cancels), then their median and range: the ratio of two medians would mix pairs.
    const pairRatios = (model: 'open' | 'closed', pick: (s: Sample) => number): number[] =>
      samples[model].on.map((on, i) => pick(on) / pick(samples[model].off[i]!));
    const ratio = (model: 'open' | 'closed', pick: (s: Sample) => number): string => median(pairRatios(model, pick)).toFixed(3);
    const range = (model: 'open' | 'closed', pick: (s: Sample) => number): string => {
      const xs = pairRatios(model, pick);
      return `pairs ${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;
    };
    const ratioOfMedians = (model: 'open' | 'closed', pick: (s: Sample) => number): string =>
      (median(samples[model].on.map(pick)) / median(samples[model].off.map(pick))).toFixed(3);
    const bpfPerRequest = median(samples.closed.on.map((s) => s.bpfUsPerRequest ?? 0));
    const invocationsPerRequest = median(samples.closed.on.map((s) => s.invocationsPerRequest ?? 0));
    const cpuOn = median(samples.closed.on.map((s) => s.cpuUsPerRequest));
    const cpuOff = median(samples.closed.off.map((s) => s.cpuUsPerRequest));
    const frameworkUsPerRequest = cpuOn - cpuOff - bpfPerRequest;
    const frameworkNsPerInvocation = invocationsPerRequest > 0 ? (frameworkUsPerRequest * 1000) / invocationsPerRequest : 0;
    console.log(`\nprobe overhead, sidecar mesh, 1 service, ${REPETITIONS} interleaved pairs of ${DURATION_MS / 1000} s (median of the pairs' ratios), dwell sampled 1 in ${SAMPLE_EVERY}:`);
    console.log(`  throughput, closed model, on/off:  ${ratio('closed', (s) => s.rps)}  (goal ≥ 0.99; ${range('closed', (s) => s.rps)}; ratio of the medians ${ratioOfMedians('closed', (s) => s.rps)})`);
    console.log(`  p50 at ${scenario('open').load.rate} rps, on/off:          ${ratio('open', (s) => s.p50)}  (${range('open', (s) => s.p50)})`);
    console.log(`  p99 at ${scenario('open').load.rate} rps, on/off:          ${ratio('open', (s) => s.p99)}  (goal: within noise; ${range('open', (s) => s.p99)})`);
    console.log(`  probes' own BPF CPU per request:   ${bpfPerRequest.toFixed(2)} µs (kernel bpf_stats, ${invocationsPerRequest.toFixed(1)} invocations)`);
    console.log(`  CPU per request, all components:   on ${cpuOn.toFixed(1)} µs, off ${cpuOff.toFixed(1)} µs (/proc): the probes cost ${(cpuOn - cpuOff).toFixed(1)} µs`);
    console.log(`  hooks' framework cost (on − off − bpf_stats): ${frameworkUsPerRequest.toFixed(1)} µs per request, ${frameworkNsPerInvocation.toFixed(0)} ns per invocation`);
    if (frameworkUsPerRequest <= 0) {
      // on − off is within the host's noise here: a figure below zero is no measurement, and the
      // cells' cost keeps the last one that was resolved.
      const kept = frameworkCost();
      console.log(`  the framework cost is not resolved in this run (on − off − bpf_stats ≤ 0): ${FRAMEWORK_COST_FILE} kept${kept ? ` (${kept.frameworkNsPerInvocation} ns per invocation, ${kept.measuredAt})` : ''}`);
    } else {
      writeFileSync(
        FRAMEWORK_COST_FILE,
        JSON.stringify({
          measuredAt: new Date().toISOString(),
          by: 'npm run bench:probes (closed-model sidecar cell, probes on/off interleaved; ratios: the median of the pairs\' on/off ratios; CPU: medians)',
          pairs: REPETITIONS,
          sampleEvery: SAMPLE_EVERY,
          throughputRatio: Number(ratio('closed', (s) => s.rps)),
          p50Ratio: Number(ratio('open', (s) => s.p50)),
          cpuUsPerRequestOn: Number(cpuOn.toFixed(2)),
          cpuUsPerRequestOff: Number(cpuOff.toFixed(2)),
          bpfUsPerRequest: Number(bpfPerRequest.toFixed(3)),
          invocationsPerRequest: Number(invocationsPerRequest.toFixed(2)),
          frameworkNsPerInvocation: Math.round(frameworkNsPerInvocation),
        }, null, 2) + '\n',
      );
      console.log(`  written to ${FRAMEWORK_COST_FILE}`);
    }
    const spread = (xs: number[]): string => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
    console.log(`  noise: closed rps off ${spread(samples.closed.off.map((s) => s.rps))}, on ${spread(samples.closed.on.map((s) => s.rps))}; open p99 µs off ${spread(samples.open.off.map((s) => s.p99))}, on ${spread(samples.open.on.map((s) => s.p99))}`);
  } finally {
    restoreBpfStats();
    await cluster.down();
    state.close();
    rmSync(stateDir, { recursive: true, force: true }); // torn down: nothing left for `clean` to find there
  }
}

await main();
