// npm run bench:server — how quiet is meshbench's workload server? The same independent
// driver (hey) on the local platform's direct path (client netns → veth → node → veth →
// server netns; no proxy, no mesh), 300 req/s over 4 keep-alive connections, 1 KiB
// responses, 10 s measured after 2 s of warm-up, the driver on CPU 0 and the servers on CPU 1
// (cluster.spawn places them as a run does), against three servers in their own pods:
//   hey → nginx                 the reference
//   hey → the native server     native/server.c (workload.server: native, the default)
//   hey → the Node server       harness/workload/httpServer.ts (workload.server: node)
// in a rotating order each round; p50/p99/p99.9 per row and round, the medians over rounds,
// and each server's ratio to nginx. Never a timed assertion.
//   npm run bench:server [-- --rounds 3 --seconds 10 --warmup-seconds 2 --rate 300 --connections 4 --delay-us 0]
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalCluster, type Pod } from '../harness/platform/local/cluster.ts';
import { newRunId } from '../harness/platform/local/names.ts';
import { StateFile } from '../harness/platform/local/state.ts';
import { startServerApp } from '../harness/runner/cell.ts';
import { workloadFor } from '../harness/runner/protocols.ts';
import type { Scenario, WorkloadServerName } from '../harness/scenario/types.ts';
import { heyInPod, interleavedRounds, processOnCpuUs, spreadText, startNginxPod, type TailFigures, type TailPercentile } from './hey.ts';
import { BODY_BYTES, median } from './lib.ts';

const PORT = 8080;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '2' },
    rate: { type: 'string', default: '300' },
    connections: { type: 'string', default: '4' },
    'delay-us': { type: 'string', default: '0' },
  },
});
const rounds = Number(values.rounds);
const durationMs = Number(values.seconds) * 1000;
const warmupMs = Number(values['warmup-seconds']) * 1000;
const rate = Number(values.rate);
const connections = Number(values.connections);
const delayUs = Number(values['delay-us']);
if (!(rounds >= 1 && rounds <= 20 && durationMs >= 1000 && durationMs <= 120_000 && rate > 0 && rate <= 10_000 && connections >= 1 && connections <= 64 && delayUs >= 0 && delayUs <= 100_000)) {
  throw new Error('bench:server: --rounds 1–20, --seconds 1–120, --rate ≤ 10000, --connections 1–64, --delay-us 0–100000');
}

const scenarioFor = (server: WorkloadServerName): Scenario => ({
  name: 'bench-server',
  platform: 'local',
  meshes: ['baseline'],
  protocols: ['http1'],
  services: [1],
  repeats: 1,
  probes: [],
  workload: { responseBytes: BODY_BYTES, delayUs, server },
  load: { model: 'open', rate, connections, durationMs, warmupMs, driver: 'native' },
});

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

let interrupted = false;
const abort = new AbortController();
process.once('SIGINT', () => {
  interrupted = true;
  abort.abort();
  process.stderr.write('\nSIGINT: stopping and tearing down…\n');
});

async function main(): Promise<number> {
  const runId = newRunId();
  const dir = mkdtempSync(join(tmpdir(), 'meshbench-bench-server-'));
  const state = new StateFile(join(dir, 'state.json'), runId);
  const cluster = new LocalCluster(runId, state);
  try {
    await cluster.up();
    const [client, nginxPod, nativePod, nodePod] = await cluster.addPods([
      { name: 'client-1', role: 'client' },
      { name: 'server-1', role: 'server' },
      { name: 'server-2', role: 'server' },
      { name: 'server-3', role: 'server' },
    ]);
    const nginxPid = await startNginxPod(cluster, nginxPod!, dir, PORT);
    const http = workloadFor('http1');
    const nativeApp = await startServerApp(cluster, nativePod!, scenarioFor('native'), http);
    const nodeApp = await startServerApp(cluster, nodePod!, scenarioFor('node'), http);
    const native = http.server(scenarioFor('native'));
    const node = http.server(scenarioFor('node'));
    log(
      `bench:server — hey on the direct path (client netns → veth → server netns), ${rate} req/s over ${connections} keep-alive connections, ` +
        `${BODY_BYTES} B responses${delayUs ? `, ${delayUs} µs server delay (not nginx)` : ''}, ${durationMs / 1000} s after ${warmupMs / 1000} s warm-up, ` +
        `${rounds} rounds interleaved; driver CPU ${cluster.placement.driverCpus}, servers CPU ${cluster.placement.podCpus}`,
    );
    log(`servers: nginx ${nginxPod!.ip}; ${native.name} ${native.version} ${nativePod!.ip}; ${node.name} (${node.version}) ${nodePod!.ip}`);

    const heyRun = { rate, connections, warmupMs, durationMs, dir, signal: abort.signal };
    // Each server's on-CPU time per request over a row (warm-up included): what it costs the
    // CPU it shares with the proxies, and a figure the host's noise moves far less than a tail.
    const cpuUsPerRequest = new Map<string, number[]>();
    const measured = (name: string, pid: number, pod: Pod) => async (): Promise<TailFigures> => {
      const before = await processOnCpuUs(pid);
      const f = await heyInPod(cluster, client!, pod, PORT, heyRun);
      const after = await processOnCpuUs(pid);
      if (before === undefined || after === undefined) return f;
      // requests over the whole run, from the measured window's count (hey lags on a busy host)
      const perRequest = (after - before) / ((f.count * (warmupMs + durationMs)) / durationMs);
      cpuUsPerRequest.set(name, [...(cpuUsPerRequest.get(name) ?? []), perRequest]);
      return { ...f, note: `${f.note}, server CPU ${perRequest.toFixed(1)} µs/request` };
    };
    const rows = [
      { name: 'hey → nginx', run: measured('hey → nginx', nginxPid, nginxPod!) },
      { name: 'hey → native server', run: measured('hey → native server', nativeApp.pid, nativePod!) },
      { name: 'hey → Node server', run: measured('hey → Node server', nodeApp.pid, nodePod!) },
    ];
    const results = await interleavedRounds(rows, rounds, { stopped: () => interrupted, log, nameWidth: 22 });
    const med = (name: string, key: TailPercentile): number => median(results.get(name)!.map((f) => f[key]));
    log('\nmedian over rounds (min–max), and the ratio to nginx:');
    const reference = rows[0]!.name;
    for (const row of rows) {
      const cell = (k: TailPercentile): string => {
        const ratio = row.name === reference ? '' : ` ${(med(row.name, k) / med(reference, k)).toFixed(2)}×`;
        return `${spreadText(results.get(row.name)!, k, median)}${ratio}`;
      };
      log(`  ${row.name.padEnd(22)} p50 ${cell('p50')}   p99 ${cell('p99')}   p99.9 ${cell('p999')}`);
    }
    // The rows of one round run back to back: a round's ratio cancels most of the host's slow
    // drift, so the median of the per-round ratios is the steadier figure on a busy host.
    log('\nmedian of the per-round ratios to nginx (min–max):');
    for (const row of rows.slice(1)) {
      const cell = (k: TailPercentile): string => {
        const ratios = results.get(row.name)!.map((f, i) => f[k] / results.get(reference)![i]![k]);
        return `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
      };
      log(`  ${row.name.padEnd(22)} p50 ${cell('p50')}   p99 ${cell('p99')}   p99.9 ${cell('p999')}`);
    }
    log('\nserver CPU per request, median over rounds (min–max):');
    for (const row of rows) {
      const xs = cpuUsPerRequest.get(row.name) ?? [];
      if (xs.length === 0) log(`  ${row.name.padEnd(22)} no data`);
      else log(`  ${row.name.padEnd(22)} ${median(xs).toFixed(1)} µs (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`);
    }
    return 0;
  } catch (err) {
    if (interrupted) return 130;
    const errorLog = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    log(`bench:server failed: ${(err as Error).message}${errorLog ? `\nnginx error.log:\n${errorLog}` : ''}`);
    return 1;
  } finally {
    await cluster.down();
    state.close();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
