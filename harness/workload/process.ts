// Starts the HTTP workload server (native by default, servers.ts) as a process of its own
// behind a command prefix (taskset, ip netns exec, a cgroup wrapper — the caller supplies
// it), waits for its ready line and hands back its pid; stops it by that pid.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { WorkloadServerName } from '../scenario/types.ts';
import type { WorkloadStats } from './httpServer.ts';
import { DEFAULT_WORKLOAD_SERVER, workloadServerArgv } from './servers.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface WorkloadProcessOptions {
  host: string;
  /** 0: a free port, reported back. */
  port: number;
  responseBytes: number;
  delayUs: number;
  /** Which server (servers.ts); default the native one. */
  server?: WorkloadServerName;
  spawnPrefix?: readonly string[];
  /** Default 20 s (a Node server's start-up and delay calibration take ~1 s). */
  readyTimeoutMs?: number;
}

export interface WorkloadProcess {
  /** Pid of the process the prefix exec'd into (taskset / ip netns exec keep the pid). */
  readonly pid: number;
  readonly port: number;
  /** Everything the server wrote on stderr so far. */
  stderr(): string;
  /** SIGTERM by pid, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** The argv that runs the HTTP server (for callers that spawn it their own way). */
export function workloadProcessArgv(o: Pick<WorkloadProcessOptions, 'host' | 'port' | 'responseBytes' | 'delayUs' | 'server'>): string[] {
  const args = ['--host', o.host, '--port', String(o.port), '--response-bytes', String(o.responseBytes), '--delay-us', String(o.delayUs)];
  return workloadServerArgv(o.server ?? DEFAULT_WORKLOAD_SERVER, 'http1', args);
}

export function startWorkloadProcess(options: WorkloadProcessOptions): Promise<WorkloadProcess> {
  const argv = [...(options.spawnPrefix ?? []), ...workloadProcessArgv(options)];
  const child = spawn(argv[0], argv.slice(1), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const kill = (signal: NodeJS.Signals): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal);
  };
  return new Promise((resolve, reject) => {
    let stdout = '';
    const fail = (why: string): void => {
      clearTimeout(timer);
      kill('SIGKILL');
      reject(new Error(`workload server did not start: ${why}\n  command: ${argv.join(' ')}\n  stderr: ${stderr.trim().slice(-2000)}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${options.readyTimeoutMs ?? 20_000} ms`), options.readyTimeoutMs ?? 20_000);
    child.once('error', (err) => fail(err.message));
    void exited.then((code) => fail(`exited with ${code}`));
    child.stdout.setEncoding('utf8').on('data', function onData(d: string) {
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl < 0) return;
      child.stdout.off('data', onData);
      child.stdout.resume(); // nothing else comes on stdout; keep the pipe drained anyway
      clearTimeout(timer);
      let ready: { ready?: boolean; pid?: number; port?: number };
      try {
        ready = JSON.parse(stdout.slice(0, nl)) as typeof ready;
      } catch {
        return fail(`not a ready line: ${stdout.slice(0, nl)}`);
      }
      if (!ready.ready || typeof ready.port !== 'number') return fail(`not a ready line: ${stdout.slice(0, nl)}`);
      resolve({
        pid: child.pid!,
        port: ready.port,
        stderr: () => stderr,
        exited,
        async stop(graceMs = 3_000) {
          kill('SIGTERM');
          const t = setTimeout(() => kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(t);
        },
      });
    });
  });
}

/** GET /_meshbench/stats (optionally resetting the counters). */
export function fetchWorkloadStats(host: string, port: number, reset = false): Promise<WorkloadStats> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host, port, path: `/_meshbench/stats${reset ? '?reset=1' : ''}`, agent: false, timeout: 5_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as WorkloadStats);
          } catch (err) {
            reject(new Error(`bad stats from ${host}:${port}: ${(err as Error).message}: ${body.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`stats from ${host}:${port}: timeout`)));
    req.on('error', reject);
  });
}
