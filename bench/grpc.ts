// How close does the gRPC driver come to h2load's maximum rate? Both make unary calls of
// meshbench.v1.Bench, closed model, the same connections × streams, pinned to CPU 0,
// alternately, after a warm-up, against two servers pinned to CPU 1:
//   - nginx answering every POST with a fixed gRPC reply (1 KiB payload, grpc-status 0
//     trailer) over h2c: faster than either driver, so the drivers' own limits show;
//   - the meshbench gRPC workload server (grpc-js), the server of every gRPC cell.
// The ratio of the medians against nginx is the figure (goal ≥ 0.5). h2load does not read
// grpc-status; the gRPC driver's runs against the same server show what it answers.
// bench/driver.ts runs this after the HTTP drivers; alone:
//   node --import tsx bench/grpc.ts [--rounds 3 --seconds 5 --connections 4 --streams 16]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { GrpcDriverOutcome } from '../harness/load/grpcDriver.ts';
import { runGrpcDriverProcess } from '../harness/load/grpcProcess.ts';
import type { GrpcLoadSpec } from '../harness/load/grpcSpec.ts';
import { runH2loadLoad, type H2loadOutcome } from '../harness/load/h2load.ts';
import { TSX_LOADER_URL } from '../harness/load/process.ts';
import { encodeBenchReply, grpcFrame } from '../harness/workload/grpcMessages.ts';

const NGINX = '/usr/sbin/nginx';
const SERVER_CPU = '1';
const DRIVER_CPU = '0';
const REPLY_BYTES = 1024;
export const GRPC_GOAL = 0.5;
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * nginx as a fixed gRPC responder: any POST is rewritten to the reply file; the static
 * module refuses POST (405), which error_page turns into a GET of the same file with status
 * 200, and add_trailer appends grpc-status 0.
 */
function nginxConfig(dir: string, port: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  http2_max_concurrent_streams 1024;
  types {}
  default_type application/grpc;
  server {
    listen 127.0.0.1:${port} http2;
    root ${dir}/www;
    location / {
      rewrite ^ /reply.bin break;
      error_page 405 =200 /reply.bin;
      add_trailer grpc-status 0 always;
    }
  }
}
`;
}

/** A server process pinned to SERVER_CPU, stopped by pid. */
class Server {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderr = '';

  constructor(readonly name: string) {}

  async start(argv: string[], ready: () => Promise<number>): Promise<number> {
    const child = spawn('taskset', ['-c', SERVER_CPU, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    const early = this.exited.then(() => {
      throw new Error(`${this.name} exited at start-up: ${this.stderr.trim()}`);
    });
    try {
      return await Promise.race([ready(), early]);
    } finally {
      early.catch(() => {});
    }
  }

  get stdout(): NodeJS.ReadableStream {
    return this.child!.stdout!;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    process.kill(c.pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, 'SIGKILL');
    }, 3_000);
    await this.exited;
    clearTimeout(t);
  }
}

async function startNginx(server: Server, dir: string): Promise<number> {
  const port = await freePort();
  await mkdir(path.join(dir, 'www'), { recursive: true });
  await writeFile(path.join(dir, 'www', 'reply.bin'), grpcFrame(encodeBenchReply(REPLY_BYTES)));
  await writeFile(path.join(dir, 'nginx.conf'), nginxConfig(dir, port));
  await server.start([NGINX, '-c', path.join(dir, 'nginx.conf'), '-p', dir, '-e', path.join(dir, 'error.log')], async () => {
    await waitForPort(port, 10_000);
    return port;
  });
  return port;
}

async function startGrpcServer(server: Server): Promise<number> {
  return server.start(
    [process.execPath, '--import', TSX_LOADER_URL, GRPC_SERVER, '--host', '127.0.0.1', '--port', '0', '--response-bytes', String(REPLY_BYTES), '--delay-us', '0'],
    () =>
      new Promise((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error('gRPC workload server: no ready line in 20 s')), 20_000);
        server.stdout.setEncoding('utf8');
        server.stdout.on('data', (d: string) => {
          out += d;
          const line = out.split('\n').find((l) => l.includes('"ready"'));
          if (line) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { port: number }).port);
          }
        });
      }),
  );
}

/** utime + stime of a process, ms (CLK_TCK is 100 on Linux). */
async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Follows the CPU time of the process h2load runs as until it exits (last reading ≤ 50 ms before its end). */
class CpuFollower {
  private pid = 0;
  private lastMs: number | undefined;
  private readonly timer = setInterval(() => void this.sample(), 50);
  onSpawn = (pid: number): void => {
    this.pid = pid;
  };
  private async sample(): Promise<void> {
    if (!this.pid) return;
    const ms = await processCpuMs(this.pid);
    if (ms !== undefined) this.lastMs = ms;
  }
  stop(): number | undefined {
    clearInterval(this.timer);
    return this.lastMs;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function cpuPerCallUs(o: Outcome): number | undefined {
  const ms = o.accounting.driverCpuMs;
  const calls = o.requests + o.non2xx;
  return ms === undefined || calls === 0 ? undefined : (ms * 1000) / calls;
}

function describe(o: Outcome, durationMs: number): string {
  const l = o.latencyUs;
  const cpu = cpuPerCallUs(o);
  const statuses = 'statuses' in o.grpc ? `grpc-status ${JSON.stringify(o.grpc.statuses)}` : 'grpc-status not read';
  return (
    `${o.driver.padEnd(7)} ${o.achievedRps.toFixed(0).padStart(7)} calls/s  p50 ${(l.p50 / 1000).toFixed(2)} ms  p99 ${(l.p99 / 1000).toFixed(2)} ms  ` +
    `errors ${o.non2xx + o.socketErrors}  ${statuses}` +
    (cpu !== undefined ? `  driver CPU ${cpu.toFixed(1)} µs/call (${((o.accounting.driverCpuMs! / durationMs) * 100).toFixed(0)} % of CPU ${DRIVER_CPU})` : '')
  );
}

/** Runs the comparison against both servers and prints it; resolves with the ratio against nginx. */
export async function benchGrpcDrivers(o: GrpcBenchOptions): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshbench-bench-grpc-'));
  const nginx = new Server('nginx');
  const grpcServer = new Server('gRPC workload server');
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
    const grpcRun = (port: number): Promise<Outcome> => runGrpcDriverProcess(spec(port, o.warmupMs), prefix, { signal: o.signal });
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
    // Warm-up: page cache for node/tsx, the servers' JIT, CPU frequency.
    for (const port of [nginxPort, grpcPort]) {
      await runGrpcDriverProcess(spec(port, 0, 2_000), prefix, { signal: o.signal });
      await runH2loadLoad(spec(port, 0, 2_000), { spawnPrefix: prefix, signal: o.signal });
    }
    const ratios: Record<string, number> = {};
    for (const [serverName, port] of [['nginx', nginxPort], ['grpc-js', grpcPort]] as const) {
      const rates: Record<string, number[]> = { grpc: [], h2load: [] };
      const cpuUs: Record<string, number[]> = { grpc: [], h2load: [] };
      for (let r = 0; r < o.rounds; r++) {
        const order = r % 2 === 0 ? [grpcRun, h2loadRun] : [h2loadRun, grpcRun];
        for (const runDriver of order) {
          if (o.signal.aborted) throw new Error('interrupted');
          const outcome = await runDriver(port);
          rates[outcome.driver]!.push(outcome.achievedRps);
          const cpu = cpuPerCallUs(outcome);
          if (cpu !== undefined) cpuUs[outcome.driver]!.push(cpu);
          o.log(`round ${r + 1}  ${serverName.padEnd(7)}  ${describe(outcome, o.durationMs)}`);
        }
      }
      const g = median(rates.grpc!);
      const h = median(rates.h2load!);
      ratios[serverName] = g / h;
      o.log(`median against ${serverName}: gRPC driver ${g.toFixed(0)} calls/s, h2load ${h.toFixed(0)} calls/s`);
      if (cpuUs.grpc!.length > 0 && cpuUs.h2load!.length > 0) {
        const cg = median(cpuUs.grpc!);
        const ch = median(cpuUs.h2load!);
        o.log(`median driver CPU per call against ${serverName}: gRPC driver ${cg.toFixed(1)} µs, h2load ${ch.toFixed(1)} µs (calls per CPU second, gRPC driver/h2load: ${(ch / cg).toFixed(2)})`);
      }
    }
    o.log(`gRPC driver/h2load max rate: ${ratios.nginx!.toFixed(2)} against nginx (goal ≥ ${GRPC_GOAL}), ${ratios['grpc-js']!.toFixed(2)} against the grpc-js workload server`);
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
