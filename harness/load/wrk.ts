// The reference driver: wrk (C, Debian's 4.1), closed model only, one thread per target.
// A Lua `done()` prints a JSON summary (µs latencies, counts, errors) plus the latency
// quantiles the histogram is rebuilt from: wrk keeps a per-µs histogram but its Lua API only
// exposes percentiles. wrk's -d takes whole seconds, so the window is rounded up to one;
// the warm-up is a separate wrk run on its own connections.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LatencySummaryUs, LoadOutcome } from '../results/types.ts';
import { encodeHistogram, histogramFromQuantiles, mergeHistograms, summarizeLatencyUs } from './histogram.ts';
import { lastJsonLine, runChild } from './process.ts';
import { connectionsPerTarget } from './schedule.ts';
import { DEFAULT_TIMEOUT_MS } from './spec.ts';
import type { DriverOutcome, DriverRunOptions, LoadDriver, LoadSpec, LoadTarget } from './types.ts';

export const WRK_PATH = '/usr/bin/wrk';
export const WRK_DRIVER_NAME = 'wrk';

// Percentiles dumped for the histogram: fine in the tail, coarser where wrk would spend
// long walking its per-µs array (a wide min..max range).
const WRK_DONE_SCRIPT = `
local function pcts(fine)
  local out = {}
  local step = fine and 0.1 or 0.5
  local p = step
  while p < 99.0 + 1e-9 do out[#out + 1] = p; p = p + step end
  for i = 1, 99 do out[#out + 1] = 99 + i * 0.01 end
  for i = 1, 9 do out[#out + 1] = 99.99 + i * 0.001 end
  out[#out + 1] = 100
  return out
end

done = function(summary, latency, requests)
  local e = summary.errors
  local fine = (latency.max - latency.min) < 500000
  local ps, qs = {}, {}
  if summary.requests > 0 then
    for _, p in ipairs(pcts(fine)) do
      ps[#ps + 1] = string.format("%.3f", p)
      -- percentile(100) walks past the end (its rank is count + 1) and answers 0
      qs[#qs + 1] = string.format("%d", p >= 100 and latency.max or latency:percentile(p))
    end
  end
  io.write(string.format(
    '\\n{"meshbench":"wrk","durationUs":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"max":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"percentiles":[%s],"quantilesUs":[%s]}\\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    summary.requests > 0 and latency.min or 0, latency.max, latency.mean,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    table.concat(ps, ","), table.concat(qs, ",")))
end
`;

/** What the Lua done() prints. */
export interface WrkSummary {
  durationUs: number;
  requests: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { min: number; max: number; mean: number; p50: number; p90: number; p99: number; p999: number };
  percentiles: number[];
  quantilesUs: number[];
}

export function parseWrkOutput(stdout: string): WrkSummary {
  const line = lastJsonLine(stdout);
  if (!line || line.meshbench !== 'wrk') throw new Error(`no summary line in wrk output:\n${stdout.slice(-1000)}`);
  return line as unknown as WrkSummary;
}

function targetUrl(t: LoadTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `http://${host}:${t.port}${t.path ?? '/'}`;
}

interface WrkRunArgs {
  target: LoadTarget;
  connections: number;
  seconds: number;
  timeoutMs: number;
  scriptPath: string;
  options: DriverRunOptions;
}

async function runWrkOnce(a: WrkRunArgs): Promise<WrkSummary> {
  const argv = [
    ...(a.options.spawnPrefix ?? []),
    WRK_PATH,
    '-t1',
    `-c${a.connections}`,
    `-d${a.seconds}s`,
    `--timeout`,
    `${Math.max(1, Math.ceil(a.timeoutMs / 1000))}s`,
    '--latency',
    '-s',
    a.scriptPath,
    targetUrl(a.target),
  ];
  const result = await runChild(argv, { signal: a.options.signal, onSpawn: a.options.onSpawn, deadlineMs: a.seconds * 1000 + 30_000 });
  if (result.exitCode !== 0) {
    throw new Error(`wrk failed (exit ${result.exitCode ?? result.signal}): ${result.commandLine}\n${result.stderr.trim() || result.stdout.trim()}`);
  }
  return parseWrkOutput(result.stdout);
}

/** Runs wrk per target in parallel (connections split as the spec says), warm-up first. */
export async function runWrkLoad(spec: LoadSpec, options: DriverRunOptions = {}): Promise<DriverOutcome> {
  if (spec.model !== 'closed') throw new Error('the wrk driver runs the closed model only');
  const timeoutMs = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const dir = await mkdtemp(path.join(tmpdir(), 'meshbench-wrk-'));
  try {
    const scriptPath = path.join(dir, 'done.lua');
    await writeFile(scriptPath, WRK_DONE_SCRIPT);
    const perTarget = connectionsPerTarget(spec.connections, spec.targets.length, spec.weights);
    // A target of weight 0 gets no connection, hence no wrk.
    const runAll = (seconds: number): Promise<WrkSummary[]> =>
      Promise.all(
        spec.targets.flatMap((target, k) =>
          perTarget[k]! > 0 ? [runWrkOnce({ target, connections: perTarget[k]!, seconds, timeoutMs, scriptPath, options })] : [],
        ),
      );
    const warmup = spec.warmupMs > 0 ? await runAll(Math.max(1, Math.ceil(spec.warmupMs / 1000))) : [];
    options.onMeasureStart?.();
    const measured = await runAll(Math.max(1, Math.ceil(spec.durationMs / 1000)));
    return { ...wrkOutcome(spec, warmup, measured), driverVersion: await wrkVersion() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** "wrk 4.1.0" (`wrk -v` prints its version and exits 1). */
export async function wrkVersion(): Promise<string> {
  const r = await runChild([WRK_PATH, '-v'], { deadlineMs: 5_000 });
  const m = /wrk (\S+)/.exec(r.stdout + r.stderr);
  return m ? `wrk ${m[1]}` : 'wrk (version unknown)';
}

/** Combines the per-target wrk summaries into one outcome (pure; unit-tested). */
export function wrkOutcome(spec: LoadSpec, warmup: WrkSummary[], measured: WrkSummary[]): DriverOutcome {
  const sum = (xs: WrkSummary[], f: (s: WrkSummary) => number): number => xs.reduce((a, s) => a + f(s), 0);
  const completed = sum(measured, (s) => s.requests);
  const non2xx = sum(measured, (s) => s.errors.status);
  const socketErrors = sum(measured, (s) => s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout);
  const measuredMs = Math.max(...measured.map((s) => s.durationUs)) / 1000;
  const histograms = measured.map((s) => histogramFromQuantiles(s.percentiles, s.quantilesUs, s.requests));
  const merged = mergeHistograms(histograms);
  // One target: wrk's own percentiles (exact to its µs array); several: from the merged histogram.
  const latencyUs: LatencySummaryUs =
    measured.length === 1
      ? {
          p50: measured[0].latencyUs.p50,
          p90: measured[0].latencyUs.p90,
          p99: measured[0].latencyUs.p99,
          p999: measured[0].latencyUs.p999,
          max: measured[0].latencyUs.max,
          min: measured[0].latencyUs.min,
          mean: Math.round(measured[0].latencyUs.mean * 10) / 10,
          count: measured[0].requests,
        }
      : summarizeLatencyUs(merged);
  const outcome: LoadOutcome = {
    driver: WRK_DRIVER_NAME,
    model: 'closed',
    achievedRps: Math.round((completed / (measuredMs / 1000)) * 10) / 10,
    requests: completed - non2xx,
    non2xx,
    socketErrors,
    connections: spec.connections,
    measuredMs: Math.round(measuredMs),
    saturated: false,
    latencyUs,
    histogram: encodeHistogram(merged),
  };
  const warmupResponses = sum(warmup, (s) => s.requests);
  const timeouts = sum([...warmup, ...measured], (s) => s.errors.timeout);
  return {
    ...outcome,
    // wrk counts completions, not writes: sent is responses + timeouts (a lower bound).
    accounting: {
      sent: warmupResponses + completed + timeouts,
      responses: warmupResponses + completed,
      warmupResponses,
      lateResponses: 0,
      lost: timeouts,
      unsent: 0,
      maxBacklog: 0,
      processes: warmup.length + measured.length,
    },
  };
}

export const wrkDriver: LoadDriver = {
  name: 'wrk',
  run: (spec, options) => runWrkLoad(spec, options),
};
