// npm run bench:tail — the harness's own floor against an independent reference, in one run.
// The direct path of the local platform (client netns → veth → node → veth → server netns; no
// proxy, no mesh), 300 req/s over 4 keep-alive connections, 1 KiB responses, 10 s measured
// after 2 s of warm-up, the driver on CPU 0 and the pods on CPU 1 (cluster.spawn places them
// as a run does). Each round, in a rotating order:
//   meshbench's default driver → nginx          hey → nginx (the independent reference)
//   meshbench's default driver → its server     hey → meshbench's server
// hey (Go, Debian) is paced by -q per worker (75 × 4 = 300/s), measures from its own send
// and writes response times with 0.1 ms resolution (its CSV), so its p50 reads in steps of
// 100 µs; its warm-up is the first 2 s of a 12 s run, dropped by each request's offset.
// Prints p50/p99/p99.9 per row and round, the medians over rounds, and the ratios of the
// harness's floor (meshbench driver → meshbench server) to the reference (hey → nginx)
// against the goal: p50 ≤ 1.2×, p99 ≤ 1.3×, p99.9 ≤ 2×. Never a timed assertion.
//   npm run bench:tail [-- --rounds 3 --seconds 10 --warmup-seconds 2 --rate 300 --connections 4]
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_DRIVER, driverCommand } from '../harness/load/index.ts';
import type { DriverOutcome, LoadSpec } from '../harness/load/types.ts';
import { LocalCluster, type Pod } from '../harness/platform/local/cluster.ts';
import { newRunId } from '../harness/platform/local/names.ts';
import { StateFile } from '../harness/platform/local/state.ts';
import { startServerApp } from '../harness/runner/cell.ts';
import { workloadFor } from '../harness/runner/protocols.ts';
import type { Scenario } from '../harness/scenario/types.ts';
import { formatUs as us, heyInPod, interleavedRounds, spreadText, startNginxPod, type TailFigures as Figures, type TailPercentile } from './hey.ts';
import { BODY_BYTES, median } from './lib.ts';

const GOAL = { p50: 1.2, p99: 1.3, p999: 2 };
const PORT = 8080;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '2' },
    rate: { type: 'string', default: '300' },
    connections: { type: 'string', default: '4' },
  },
});
const rounds = Number(values.rounds);
const durationMs = Number(values.seconds) * 1000;
const warmupMs = Number(values['warmup-seconds']) * 1000;
const rate = Number(values.rate);
const connections = Number(values.connections);
if (!(rounds >= 1 && rounds <= 20 && durationMs >= 1000 && durationMs <= 120_000 && rate > 0 && rate <= 10_000 && connections >= 1 && connections <= 64)) {
  throw new Error('bench:tail: --rounds 1–20, --seconds 1–120, --rate ≤ 10000, --connections 1–64');
}

const scenario: Scenario = {
  name: 'bench-tail',
  platform: 'local',
  meshes: ['baseline'],
  protocols: ['http1'],
  services: [1],
  repeats: 1,
  probes: [],
  workload: { responseBytes: BODY_BYTES, delayUs: 0 },
  load: { model: 'open', rate, connections, durationMs, warmupMs, driver: DEFAULT_DRIVER },
};

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

async function meshbenchDriver(cluster: LocalCluster, client: Pod, target: Pod): Promise<Figures> {
  const spec: LoadSpec = { targets: [{ host: target.ip, port: PORT, path: '/' }], model: 'open', rate, connections, durationMs, warmupMs };
  const driver = cluster.spawn(client, 'load-driver', driverCommand(DEFAULT_DRIVER, spec), { cpus: 'driver' });
  const stop = (): void => void driver.stop();
  abort.signal.addEventListener('abort', stop, { once: true });
  try {
    const line = await driver.waitForLine((l) => l.includes('"latencyUs"') || l.includes('"error"'), warmupMs + durationMs + 30_000);
    const o = JSON.parse(line) as DriverOutcome | { error: string };
    if ('error' in o) throw new Error(`${DEFAULT_DRIVER} driver: ${o.error}`);
    const s = o.accounting.schedulerLatenessUs;
    return {
      p50: o.latencyUs.p50,
      p99: o.latencyUs.p99,
      p999: o.latencyUs.p999,
      count: o.latencyUs.count,
      note:
        `${o.achievedRps} req/s, errors ${o.non2xx + o.socketErrors}` +
        (s ? `, scheduler lateness p99 ${us(s.p99)} max ${us(s.max)}` : '') +
        (o.accounting.scheduling ? `, ${o.accounting.scheduling}` : ''),
    };
  } finally {
    abort.signal.removeEventListener('abort', stop);
    await driver.stop();
  }
}

async function main(): Promise<number> {
  const runId = newRunId();
  const dir = mkdtempSync(join(tmpdir(), 'meshbench-bench-tail-'));
  const state = new StateFile(join(dir, 'state.json'), runId);
  const cluster = new LocalCluster(runId, state);
  try {
    await cluster.up();
    const [client, nginxPod, appPod] = await cluster.addPods([
      { name: 'client-1', role: 'client' },
      { name: 'server-1', role: 'server' },
      { name: 'server-2', role: 'server' },
    ]);
    await startNginxPod(cluster, nginxPod!, dir, PORT);
    await startServerApp(cluster, appPod!, scenario, workloadFor('http1'));
    const serverArgv = workloadFor('http1').serverArgv(scenario, PORT);
    const serverName = serverArgv.find((a) => /native\/build\/server$|\.m?js$|\.ts$/.test(a)) ?? serverArgv[0]!;
    log(
      `bench:tail — direct path (client netns → veth → server netns), ${rate} req/s over ${connections} keep-alive connections, ` +
        `${BODY_BYTES} B responses, ${durationMs / 1000} s after ${warmupMs / 1000} s warm-up, ${rounds} rounds interleaved; ` +
        `driver CPU ${cluster.placement.driverCpus}, pods CPU ${cluster.placement.podCpus}`,
    );
    log(`meshbench driver: ${DEFAULT_DRIVER}; meshbench server: ${serverName}; nginx ${nginxPod!.ip}, meshbench server ${appPod!.ip}`);

    const heyRun = { rate, connections, warmupMs, durationMs, dir, signal: abort.signal };
    const rows = [
      { name: `${DEFAULT_DRIVER} driver → nginx`, run: () => meshbenchDriver(cluster, client!, nginxPod!) },
      { name: 'hey → nginx', run: () => heyInPod(cluster, client!, nginxPod!, PORT, heyRun) },
      { name: `${DEFAULT_DRIVER} driver → meshbench server`, run: () => meshbenchDriver(cluster, client!, appPod!) },
      { name: 'hey → meshbench server', run: () => heyInPod(cluster, client!, appPod!, PORT, heyRun) },
    ];
    const results = await interleavedRounds(rows, rounds, { stopped: () => interrupted, log, nameWidth: 34 });
    const med = (name: string, key: TailPercentile): number => median(results.get(name)!.map((f) => f[key]));
    log('\nmedian over rounds (min–max):');
    for (const row of rows) {
      const cell = (k: TailPercentile): string => spreadText(results.get(row.name)!, k, median);
      log(`  ${row.name.padEnd(34)} p50 ${cell('p50')}  p99 ${cell('p99')}  p99.9 ${cell('p999')}`);
    }
    const floor = rows[2]!.name;
    const driverOnly = rows[0]!.name;
    const reference = rows[1]!.name;
    let met = true;
    log(`\nharness floor (${floor}) / reference (${reference}), medians:`);
    for (const k of ['p50', 'p99', 'p999'] as const) {
      const ratio = med(floor, k) / med(reference, k);
      const ok = ratio <= GOAL[k];
      met &&= ok;
      const driverRatio = med(driverOnly, k) / med(reference, k);
      log(`  ${k.padEnd(5)} ${ratio.toFixed(2)}× (goal ≤ ${GOAL[k]}×) ${ok ? 'met' : 'NOT met'}   driver alone (${driverOnly} / ${reference}): ${driverRatio.toFixed(2)}×`);
    }
    log(`goal ${met ? 'met' : 'not met'}`);
    return 0;
  } catch (err) {
    if (interrupted) return 130;
    const errorLog = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    log(`bench:tail failed: ${(err as Error).message}${errorLog ? `\nnginx error.log:\n${errorLog}` : ''}`);
    return 1;
  } finally {
    await cluster.down();
    state.close();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
