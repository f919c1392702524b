// How close do meshbench's gRPC drivers come to h2load's maximum rate? All make unary calls
// of meshbench.v1.Bench, closed model, the same connections × streams, pinned to CPU 0,
// alternately, after a warm-up, against two servers pinned to CPU 1:
//   - nginx answering every POST with a fixed gRPC reply (1 KiB payload, grpc-status 0
//     trailer) over h2c: faster than any driver, so the drivers' own limits show;
//   - the grpc-js workload server (grpcServer.ts).
// The ratio of the medians of the default driver (native: libnghttp2) to h2load against nginx
// is the figure (goal ≥ 1.0); the Node gRPC driver (autocannon's side) runs beside it.
// h2load does not read grpc-status; the meshbench drivers' runs show what the server answers.
// bench/driver.ts runs this after the HTTP drivers; alone:
//   node --import tsx bench/grpc.ts [--rounds 3 --seconds 5 --connections 4 --streams 16]
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { GrpcDriverOutcome } from '../harness/load/grpcDriver.ts';
import { runGrpcDriverProcess } from '../harness/load/grpcProcess.ts';
import type { GrpcLoadSpec } from '../harness/load/grpcSpec.ts';
import { runH2loadLoad, type H2loadOutcome } from '../harness/load/h2load.ts';
import { runNativeDriverProcess } from '../harness/load/native.ts';
import { TSX_LOADER_URL } from '../harness/load/process.ts';
import { encodeBenchReply, grpcFrame } from '../harness/workload/grpcMessages.ts';
import { CpuFollower, DRIVER_CPU, NGINX, PinnedServer, SERVER_CPU, cpuPerRequestUs, freePort, median, nginxGrpcConfig, waitForPort } from './lib.ts';

const REPLY_BYTES = 1024;
export const GRPC_GOAL = 1.0;
const GRPC_SERVER = fileURLToPath(new URL('../harness/workload/grpcServer.ts', import.meta.url));

export interface GrpcBenchOptions {
  rounds: number;
  durationMs: number;
  warmupMs: number;
  connections: number;
  streams: number;
  log: (line: string) => void;
  signal: AbortSignal;
}

type Outcome = GrpcDriverOutcome | H2loadOutcome;

async function startNginx(server: PinnedServer, dir: string): Promise<number> {
  const port = await freePort();
  await mkdir(path.join(dir, 'www'), { recursive: true });
  await writeFile(path.join(dir, 'www', 'reply.bin'), grpcFrame(encodeBenchReply(REPLY_BYTES)));
  await writeFile(path.join(dir, 'nginx.conf'), nginxGrpcConfig(dir, `127.0.0.1:${port}`));
  return server.start([NGINX, '-c', path.join(dir, 'nginx.conf'), '-p', dir, '-e', path.join(dir, 'error.log')], async () => {
    await waitForPort(port, 10_000);
    return port;
  });
}

function startGrpcServer(server: PinnedServer): Promise<number> {
  return server.start(
    [process.execPath, '--import', TSX_LOADER_URL, GRPC_SERVER, '--host', '127.0.0.1', '--port', '0', '--response-bytes', String(REPLY_BYTES), '--delay-us', '0'],
    () => server.readyLine(),
  );
}

/** The name a run is filed under: the native driver's gRPC side, the Node gRPC driver, h2load. */
function rowName(o: Outcome): string {
  return o.driver === 'native' ? 'native' : o.driver === 'grpc' ? 'node-grpc' : o.driver;
}

function describe(o: Outcome, durationMs: number): string {
  const l = o.latencyUs;
  const cpu = cpuPerRequestUs(o);
  const statuses = 'statuses' in o.grpc ? `grpc-status ${JSON.stringify(o.grpc.statuses)}` : 'grpc-status not read';
  return (
    `${rowName(o).padEnd(9)} ${o.achievedRps.toFixed(0).padStart(7)} calls/s  p50 ${(l.p50 / 1000).toFixed(2)} ms  p99 ${(l.p99 / 1000).toFixed(2)} ms  ` +
    `errors ${o.non2xx + o.socketErrors}  ${statuses}` +
    (cpu !== undefined ? `  driver CPU ${cpu.toFixed(1)} µs/call (${((o.accounting.driverCpuMs! / durationMs) * 100).toFixed(0)} % of CPU ${DRIVER_CPU})` : '')
  );
}

/** Runs the comparison against both servers and prints it; resolves with the native/h2load ratio against nginx. */
export async function benchGrpcDrivers(o: GrpcBenchOptions): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshbench-bench-grpc-'));
  const nginx = new PinnedServer('nginx');
  const grpcServer = new PinnedServer('gRPC workload server');
  try {
    const nginxPort = await startNginx(nginx, dir);
    const grpcPort = await startGrpcServer(grpcServer);
    o.log(
      `\ngRPC drivers: unary calls, closed model, ${o.connections} connections × ${o.streams} streams, ${o.rounds} × ${o.durationMs / 1000} s each, ` +
        `drivers on CPU ${DRIVER_CPU}; servers on CPU ${SERVER_CPU}: nginx (h2c, fixed ${REPLY_BYTES} B reply + grpc-status 0) on :${nginxPort}, ` +
        `grpc-js workload server on :${grpcPort}`,
    );
    const prefix = ['taskset', '-c', DRIVER_CPU];
    const spec = (port: number, warmupMs: number, durationMs = o.durationMs): GrpcLoadSpec => ({
      targets: [{ host: '127.0.0.1', port, path: '/' }],
      model: 'closed',
      connections: o.connections,
      durationMs,
      warmupMs,
      grpc: { method: 'unary', messagesPerStream: 1, streamsPerConnection: o.streams },
    });
    const nativeRun = (port: number): Promise<Outcome> => runNativeDriverProcess(spec(port, o.warmupMs), prefix, { signal: o.signal });
    const nodeRun = (port: number): Promise<Outcome> => runGrpcDriverProcess(spec(port, o.warmupMs), prefix, { signal: o.signal });
    const h2loadRun = async (port: number): Promise<Outcome> => {
      // h2load's warm-up shares its process: a separate warm-up run keeps the CPU reading to the window.
      await runH2loadLoad(spec(port, 0, o.warmupMs), { spawnPrefix: prefix, signal: o.signal });
      const cpu = new CpuFollower();
      try {
        const outcome = await runH2loadLoad(spec(port, 0), { spawnPrefix: prefix, signal: o.signal, onSpawn: cpu.onSpawn });
        const cpuMs = cpu.stop();
        return cpuMs === undefined ? outcome : { ...outcome, accounting: { ...outcome.accounting, driverCpuMs: cpuMs } };
      } finally {
        cpu.stop();
      }
    };
    const runners = [nativeRun, nodeRun, h2loadRun];
    // Warm-up: page cache, the servers' JIT, CPU frequency.
    for (const port of [nginxPort, grpcPort]) {
      await runNativeDriverProcess(spec(port, 0, 2_000), prefix, { signal: o.signal });
      await runH2loadLoad(spec(port, 0, 2_000), { spawnPrefix: prefix, signal: o.signal });
    }
    const ratios: Record<string, number> = {};
    for (const [serverName, port] of [['nginx', nginxPort], ['grpc-js', grpcPort]] as const) {
      const rates: Record<string, number[]> = { native: [], 'node-grpc': [], h2load: [] };
      const cpuUs: Record<string, number[]> = { native: [], 'node-grpc': [], h2load: [] };
      for (let r = 0; r < o.rounds; r++) {
        for (let i = 0; i < runners.length; i++) {
          if (o.signal.aborted) throw new Error('interrupted');
          const outcome = await runners[(i + r) % runners.length]!(port);
          const name = rowName(outcome);
          rates[name]!.push(outcome.achievedRps);
          const cpu = cpuPerRequestUs(outcome);
          if (cpu !== undefined) cpuUs[name]!.push(cpu);
          o.log(`round ${r + 1}  ${serverName.padEnd(7)}  ${describe(outcome, o.durationMs)}`);
        }
      }
      const h = median(rates.h2load!);
      ratios[serverName] = median(rates.native!) / h;
      o.log(`median against ${serverName}: ${Object.entries(rates).map(([n, xs]) => `${n} ${median(xs).toFixed(0)} calls/s`).join(', ')}`);
      for (const name of ['native', 'node-grpc']) {
        if (cpuUs[name]!.length > 0 && cpuUs.h2load!.length > 0) {
          const cg = median(cpuUs[name]!);
          const ch = median(cpuUs.h2load!);
          o.log(`  driver CPU per call: ${name} ${cg.toFixed(1)} µs, h2load ${ch.toFixed(1)} µs (calls per CPU second, ${name}/h2load: ${(ch / cg).toFixed(2)}); max rate ${name}/h2load ${(median(rates[name]!) / h).toFixed(2)}`);
        }
      }
    }
    o.log(
      `native gRPC driver/h2load max rate: ${ratios.nginx!.toFixed(2)} against nginx (goal ≥ ${GRPC_GOAL}: ${ratios.nginx! >= GRPC_GOAL ? 'met' : 'NOT met'}), ` +
        `${ratios['grpc-js']!.toFixed(2)} against the grpc-js workload server`,
    );
    return ratios.nginx!;
  } catch (err) {
    const errorLog = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
    throw new Error(`${(err as Error).message}${errorLog ? `\nnginx error.log:\n${errorLog}` : ''}`);
  } finally {
    await nginx.stop();
    await grpcServer.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '4' },
      streams: { type: 'string', default: '16' },
      'warmup-seconds': { type: 'string', default: '1' },
    },
  });
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  try {
    await benchGrpcDrivers({
      rounds: Number(values.rounds),
      durationMs: Number(values.seconds) * 1000,
      warmupMs: Number(values['warmup-seconds']) * 1000,
      connections: Number(values.connections),
      streams: Number(values.streams),
      log: (line) => process.stdout.write(`${line}\n`),
      signal: abort.signal,
    });
  } catch (err) {
    process.stdout.write(`bench gRPC failed: ${(err as Error).message}\n`);
    process.exitCode = abort.signal.aborted ? 130 : 1;
  }
}
