// What the driver benchmarks (bench/driver.ts, bench/grpc.ts, bench/tail.ts) share: a
// server process pinned to a CPU and stopped by pid, nginx configurations (HTTP/1.1 with a
// fixed body; h2c answering every POST with a fixed gRPC reply), ports, medians, and the
// CPU time of a process followed from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';

export const NGINX = '/usr/sbin/nginx';
/** As the runner places them: the driver on CPU 0, what it measures on CPU 1. */
export const DRIVER_CPU = '0';
export const SERVER_CPU = '1';
export const BODY_BYTES = 1024;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function nginxPreamble(dir: string): string {
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
`;
}

/** nginx answering every GET with 200 and a fixed body of `bodyBytes`. */
export function nginxHttpConfig(dir: string, listen: string, bodyBytes = BODY_BYTES): string {
  return `${nginxPreamble(dir)}  server {
    listen ${listen};
    location / { default_type text/plain; return 200 "${'x'.repeat(bodyBytes)}"; }
  }
}
`;
}

/**
 * nginx as a fixed gRPC responder over h2c: any POST is rewritten to the reply file
 * (${dir}/www/reply.bin); the static module refuses POST (405), which error_page turns into a
 * GET of the same file with status 200, and add_trailer appends grpc-status 0.
 */
export function nginxGrpcConfig(dir: string, listen: string): string {
  return `${nginxPreamble(dir)}  http2_max_concurrent_streams 1024;
  types {}
  default_type application/grpc;
  server {
    listen ${listen} http2;
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
export class PinnedServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderrText = '';

  constructor(readonly name: string) {}

  /** Starts argv on SERVER_CPU; `ready` resolves (with the port) once it serves. */
  async start(argv: string[], ready: () => Promise<number>): Promise<number> {
    const child = spawn('taskset', ['-c', SERVER_CPU, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderrText += d));
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    const early = this.exited.then(() => {
      throw new Error(`${this.name} exited at start-up: ${this.stderrText.trim()}`);
    });
    try {
      return await Promise.race([ready(), early]);
    } finally {
      early.catch(() => {});
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get stdout(): NodeJS.ReadableStream {
    return this.child!.stdout!;
  }

  /** Resolves with the port of the first `{"ready":…,"port":N}` line on stdout. */
  readyLine(timeoutMs = 20_000): Promise<number> {
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ready line in ${timeoutMs} ms`)), timeoutMs);
      this.stdout.setEncoding('utf8');
      this.stdout.on('data', (d: string) => {
        out += d;
        const line = out.split('\n').find((l) => l.includes('"ready"'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      });
    });
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

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** utime + stime of a process, ms (from /proc; CLK_TCK is 100 on Linux). */
export async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * Follows the CPU time of the last process a reference driver started (wrk, h2load: the
 * measured run after the warm-up run) until it exits; the last reading is ≤ 50 ms before its end.
 */
export class CpuFollower {
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

/** CPU µs a driver spent per answered request of the measured window. */
export function cpuPerRequestUs(o: { requests: number; non2xx: number; accounting: { driverCpuMs?: number } }): number | undefined {
  const ms = o.accounting.driverCpuMs;
  const answered = o.requests + o.non2xx;
  return ms === undefined || answered === 0 ? undefined : (ms * 1000) / answered;
}
