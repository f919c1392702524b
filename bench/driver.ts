// How close does the autocannon driver come to wrk's maximum rate? nginx-light on 127.0.0.1
// pinned to CPU 1 answers 200 with a fixed 1 KiB body; both drivers run closed-model on
// CPU 0, alternately, after a warm-up; the ratio of the medians is the figure. Then the same
// for the gRPC driver against h2load (bench/grpc.ts).
//   npm run bench:driver [-- --rounds 3 --seconds 5 --connections 64 --grpc-connections 4 --grpc-streams 16]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runDriverProcess } from '../harness/load/process.ts';
import { runWrkLoad } from '../harness/load/wrk.ts';
import { benchGrpcDrivers } from './grpc.ts';
import type { DriverOutcome, LoadSpec } from '../harness/load/types.ts';

const NGINX = '/usr/sbin/nginx';
const SERVER_CPU = '1';
const DRIVER_CPU = '0';
const BODY_BYTES = 1024;
const GOAL = 0.7;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    'warmup-seconds': { type: 'string', default: '1' },
    'grpc-connections': { type: 'string', default: '4' },
    'grpc-streams': { type: 'string', default: '16' },
  },
});
const rounds = Number(values.rounds);
const durationMs = Number(values.seconds) * 1000;
const connections = Number(values.connections);
const warmupMs = Number(values['warmup-seconds']) * 1000;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

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

function nginxConfig(dir: string, port: number): string {
  const body = 'x'.repeat(BODY_BYTES);
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
  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 "${body}"; }
  }
}
`;
}

class Nginx {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  async start(dir: string, port: number): Promise<number> {
    const conf = path.join(dir, 'nginx.conf');
    await writeFile(conf, nginxConfig(dir, port));
    // taskset execs nginx: the pid is nginx's (single process: master_process off).
    const child = spawn('taskset', ['-c', SERVER_CPU, NGINX, '-c', conf, '-p', dir, '-e', path.join(dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    const early = this.exited.then(() => {
      throw new Error(`nginx exited at start-up: ${stderr.trim()}`);
    });
    await Promise.race([waitForPort(port, 10_000), early]);
    early.catch(() => {});
    return child.pid!;
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** utime + stime of a process, ms (from /proc; CLK_TCK is 100 on Linux). */
async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * Follows the CPU time of the last process a driver started (wrk: the measured run after
 * the warm-up run) until it exits; the last reading is ≤ 50 ms before its end.
 */
class CpuFollower {
  private pid = 0;
  private lastMs: number | undefined;
  private readonly timer = setInterval(() => void this.sample(), 50);
  onSpawn = (pid: number): void => {
    this.pid = pid;
    this.lastMs = undefined;
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

/** CPU µs the driver spent per response of the measured window. */
function cpuPerRequestUs(o: DriverOutcome): number | undefined {
  const ms = o.accounting.driverCpuMs;
  const responses = o.requests + o.non2xx;
  return ms === undefined || responses === 0 ? undefined : (ms * 1000) / responses;
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
  const nginx = new Nginx();
  const dir = await mkdtemp(path.join(tmpdir(), 'meshbench-bench-driver-'));
  const onSigint = (): void => {
    log('\ninterrupted: stopping drivers and nginx');
    abort.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    const port = await freePort();
    const pid = await nginx.start(dir, port);
    log(`nginx (pid ${pid}) on 127.0.0.1:${port}, CPU ${SERVER_CPU}; drivers on CPU ${DRIVER_CPU}; ${connections} connections, ${rounds} × ${durationMs / 1000} s each`);
    const spec: LoadSpec = {
      targets: [{ host: '127.0.0.1', port, path: '/' }],
      model: 'closed',
      connections,
      durationMs,
      warmupMs,
    };
    const prefix = ['taskset', '-c', DRIVER_CPU];
    const autocannon = (): Promise<DriverOutcome> => runDriverProcess(spec, prefix, { signal: abort.signal });
    const wrk = async (): Promise<DriverOutcome> => {
      const cpu = new CpuFollower();
      try {
        const o = await runWrkLoad(spec, { spawnPrefix: prefix, signal: abort.signal, onSpawn: cpu.onSpawn });
        const cpuMs = cpu.stop();
        return cpuMs === undefined ? o : { ...o, accounting: { ...o.accounting, driverCpuMs: cpuMs } };
      } finally {
        cpu.stop();
      }
    };

    // Warm-up: nginx's caches, the page cache for node/tsx, CPU frequency.
    const warm: LoadSpec = { ...spec, durationMs: 2_000, warmupMs: 0 };
    await runDriverProcess(warm, prefix, { signal: abort.signal });
    await runWrkLoad(warm, { spawnPrefix: prefix, signal: abort.signal });

    const rates: Record<'autocannon' | 'wrk', number[]> = { autocannon: [], wrk: [] };
    const cpuUs: Record<'autocannon' | 'wrk', number[]> = { autocannon: [], wrk: [] };
    for (let r = 0; r < rounds; r++) {
      // Alternate which goes first, so drift hits both alike.
      const order = r % 2 === 0 ? [autocannon, wrk] : [wrk, autocannon];
      for (const run of order) {
        if (abort.signal.aborted) throw new Error('interrupted');
        const o = await run();
        const name = o.driver as 'autocannon' | 'wrk';
        rates[name].push(o.achievedRps);
        const cpu = cpuPerRequestUs(o);
        if (cpu !== undefined) cpuUs[name].push(cpu);
        log(`round ${r + 1}  ${describe(o)}`);
      }
    }
    const a = median(rates.autocannon);
    const w = median(rates.wrk);
    log(`median autocannon ${a.toFixed(0)} req/s, wrk ${w.toFixed(0)} req/s`);
    if (cpuUs.autocannon.length > 0 && cpuUs.wrk.length > 0) {
      // Less sensitive to whatever else runs on the host than the rates: what each driver
      // costs per request on its CPU. Their ratio is the rate ratio two CPU-bound drivers
      // would reach against a server that is never the bottleneck.
      const ca = median(cpuUs.autocannon);
      const cw = median(cpuUs.wrk);
      log(`median driver CPU per request: autocannon ${ca.toFixed(1)} µs, wrk ${cw.toFixed(1)} µs (requests per CPU second, autocannon/wrk: ${(cw / ca).toFixed(2)})`);
    }
    log(`autocannon/wrk max rate: ${(a / w).toFixed(2)} (goal ≥ ${GOAL})`);
    await benchGrpcDrivers({
      rounds,
      durationMs,
      warmupMs,
      connections: Number(values['grpc-connections']),
      streams: Number(values['grpc-streams']),
      log,
      signal: abort.signal,
    });
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
