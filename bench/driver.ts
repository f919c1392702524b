// How close does meshbench's default load driver come to wrk's maximum rate? nginx-light on
// 127.0.0.1 pinned to CPU 1 answers 200 with a fixed 1 KiB body; the drivers run
// closed-model on CPU 0, alternately, after a warm-up; the ratio of the medians is the figure
// (goal ≥ 0.9). Then the same for gRPC against h2load (bench/grpc.ts; goal ≥ 1.0).
//   npm run bench:driver [-- --rounds 3 --seconds 5 --connections 64 --grpc-connections 4 --grpc-streams 16 --drivers native,autocannon]
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_DRIVER, loadDriver } from '../harness/load/index.ts';
import { runWrkLoad } from '../harness/load/wrk.ts';
import { DRIVER_NAMES, type DriverName, type DriverOutcome, type LoadSpec } from '../harness/load/types.ts';
import { benchGrpcDrivers } from './grpc.ts';
import { CpuFollower, DRIVER_CPU, NGINX, PinnedServer, SERVER_CPU, cpuPerRequestUs, freePort, median, nginxHttpConfig, waitForPort } from './lib.ts';

const GOAL = 0.9;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    'warmup-seconds': { type: 'string', default: '1' },
    'grpc-connections': { type: 'string', default: '4' },
    'grpc-streams': { type: 'string', default: '16' },
    /** meshbench drivers to compare with wrk; the first is the one the goal is about. */
    drivers: { type: 'string', default: DEFAULT_DRIVER },
    grpc: { type: 'boolean', default: true },
  },
});
const rounds = Number(values.rounds);
const durationMs = Number(values.seconds) * 1000;
const connections = Number(values.connections);
const warmupMs = Number(values['warmup-seconds']) * 1000;
const drivers = values.drivers!.split(',') as DriverName[];
if (drivers.some((d) => !DRIVER_NAMES.includes(d) || d === 'wrk')) throw new Error(`--drivers: some of native, autocannon, got ${values.drivers}`);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function describe(o: DriverOutcome): string {
  const l = o.latencyUs;
  const cpu = cpuPerRequestUs(o);
  return (
    `${o.driver.padEnd(10)} ${o.achievedRps.toFixed(0).padStart(7)} req/s  ` +
    `p50 ${(l.p50 / 1000).toFixed(2)} ms  p99 ${(l.p99 / 1000).toFixed(2)} ms  ` +
    `non2xx ${o.non2xx}  errors ${o.socketErrors}` +
    (cpu !== undefined ? `  driver CPU ${cpu.toFixed(1)} µs/req (${((o.accounting.driverCpuMs! / o.measuredMs) * 100).toFixed(0)} % of CPU ${DRIVER_CPU})` : '')
  );
}

async function main(): Promise<number> {
  if (cpus().length < 2) {
    log(`bench:driver needs 2 CPUs (server on CPU ${SERVER_CPU}, drivers on CPU ${DRIVER_CPU}); this host has ${cpus().length}`);
    return 1;
  }
  const abort = new AbortController();
  const nginx = new PinnedServer('nginx');
  const dir = await mkdtemp(path.join(tmpdir(), 'meshbench-bench-driver-'));
  const onSigint = (): void => {
    log('\ninterrupted: stopping drivers and nginx');
    abort.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    const port = await freePort();
    await writeFile(path.join(dir, 'nginx.conf'), nginxHttpConfig(dir, `127.0.0.1:${port}`));
    await nginx.start([NGINX, '-c', path.join(dir, 'nginx.conf'), '-p', dir, '-e', path.join(dir, 'error.log')], async () => {
      await waitForPort(port, 10_000);
      return port;
    });
    log(`nginx (pid ${nginx.pid}) on 127.0.0.1:${port}, CPU ${SERVER_CPU}; drivers on CPU ${DRIVER_CPU}; ${connections} connections, ${rounds} × ${durationMs / 1000} s each`);
    const spec: LoadSpec = { targets: [{ host: '127.0.0.1', port, path: '/' }], model: 'closed', connections, durationMs, warmupMs };
    const prefix = ['taskset', '-c', DRIVER_CPU];
    const runners: Record<string, () => Promise<DriverOutcome>> = {};
    for (const name of drivers) runners[name] = () => loadDriver(name).run(spec, { spawnPrefix: prefix, signal: abort.signal });
    runners.wrk = async () => {
      const cpu = new CpuFollower();
      try {
        const o = await runWrkLoad(spec, { spawnPrefix: prefix, signal: abort.signal, onSpawn: cpu.onSpawn });
        const cpuMs = cpu.stop();
        return cpuMs === undefined ? o : { ...o, accounting: { ...o.accounting, driverCpuMs: cpuMs } };
      } finally {
        cpu.stop();
      }
    };
    const names = Object.keys(runners);
    // Warm-up: nginx's caches, the page cache for the drivers, CPU frequency.
    const warm: LoadSpec = { ...spec, durationMs: 2_000, warmupMs: 0 };
    for (const name of drivers) await loadDriver(name).run(warm, { spawnPrefix: prefix, signal: abort.signal });
    await runWrkLoad(warm, { spawnPrefix: prefix, signal: abort.signal });

    const rates: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const cpuUs: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      // Rotate which goes first, so drift hits all alike.
      for (let i = 0; i < names.length; i++) {
        if (abort.signal.aborted) throw new Error('interrupted');
        const name = names[(i + r) % names.length]!;
        const o = await runners[name]!();
        rates[name]!.push(o.achievedRps);
        const cpu = cpuPerRequestUs(o);
        if (cpu !== undefined) cpuUs[name]!.push(cpu);
        log(`round ${r + 1}  ${describe(o)}`);
      }
    }
    const w = median(rates.wrk!);
    log(`median ${names.map((n) => `${n} ${median(rates[n]!).toFixed(0)} req/s`).join(', ')}`);
    for (const name of drivers) {
      const a = median(rates[name]!);
      if (cpuUs[name]!.length > 0 && cpuUs.wrk!.length > 0) {
        // Less sensitive to whatever else runs on the host than the rates: what each driver
        // costs per request on its CPU.
        const ca = median(cpuUs[name]!);
        const cw = median(cpuUs.wrk!);
        log(`median driver CPU per request: ${name} ${ca.toFixed(1)} µs, wrk ${cw.toFixed(1)} µs (requests per CPU second, ${name}/wrk: ${(cw / ca).toFixed(2)})`);
      }
      log(`${name}/wrk max rate: ${(a / w).toFixed(2)}${name === drivers[0] ? ` (goal ≥ ${GOAL}: ${a / w >= GOAL ? 'met' : 'NOT met'})` : ''}`);
    }
    if (values.grpc) {
      await benchGrpcDrivers({
        rounds,
        durationMs,
        warmupMs,
        connections: Number(values['grpc-connections']),
        streams: Number(values['grpc-streams']),
        log,
        signal: abort.signal,
      });
    }
    return 0;
  } catch (err) {
    if (abort.signal.aborted) return 130;
    const errorLog = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
    log(`bench:driver failed: ${(err as Error).message}${errorLog ? `\nnginx error.log:\n${errorLog}` : ''}`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    await nginx.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
