// Runs a driver in a child process behind an arbitrary command prefix (taskset, ip netns
// exec, a cgroup wrapper — the harness supplies it) and parses its one-line JSON answer.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TIMEOUT_MS } from './spec.ts';
import type { DriverOutcome, LoadSpec } from './types.ts';
import { TSX_LOADER } from '../tsx.ts';

export const DRIVER_MAIN_PATH = fileURLToPath(new URL('./driverMain.ts', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** tsx's ESM loader by absolute URL, so the child resolves it whatever its cwd. */
export const TSX_LOADER_URL = TSX_LOADER;

/** Process start-up (tsx compile) + connection set-up, on top of the load's own time. */
const PROCESS_SLACK_MS = 30_000;

/**
 * A driver process that failed: what it said (its `{"error"}` line), how it ended (exit
 * code or signal) and the tail of its stderr, so a cell that fails names the driver's own
 * words. `exitCode` is null when it died of a signal (then `signal` names it).
 */
export class DriverProcessError extends Error {
  constructor(
    message: string,
    readonly commandLine: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly signal: NodeJS.Signals | null = null,
  ) {
    super(`${message}\n  command: ${commandLine}${stderr.trim() ? `\n  stderr: ${stderrTail(stderr)}` : ''}`);
    this.name = 'DriverProcessError';
  }

  /** The last 2000 characters of the driver's stderr. */
  get stderrTail(): string {
    return stderrTail(this.stderr);
  }
}

function stderrTail(stderr: string): string {
  return stderr.trim().slice(-2000);
}

export interface ChildRunOptions {
  signal?: AbortSignal;
  /** Kill the child (SIGTERM, then SIGKILL after 2 s) if it has not answered by then. */
  deadlineMs: number;
  /** Called with the child's pid as soon as it exists (for the caller's own records). */
  onSpawn?: (pid: number) => void;
}

export interface ChildResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  commandLine: string;
}

/** Spawns `argv` and collects its output; kills it by pid on deadline or abort. */
export function runChild(argv: readonly string[], options: ChildRunOptions): Promise<ChildResult> {
  const commandLine = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      process.kill(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      }, 2_000);
    };
    const deadline = setTimeout(() => {
      stderr += `\n[meshbench] killed: no answer within ${options.deadlineMs} ms`;
      kill();
    }, options.deadlineMs);
    const onAbort = (): void => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('spawn', () => options.onSpawn?.(child.pid!));
    child.once('error', (err) => {
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
      reject(new DriverProcessError(`cannot start: ${err.message}`, commandLine, null, stderr));
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(deadline);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ stdout, stderr, exitCode, signal, commandLine });
    });
  });
}

/** The last line of stdout that parses as a JSON object. */
export function lastJsonLine(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]) as Record<string, unknown>;
    } catch {
      // not JSON: keep looking
    }
  }
  return undefined;
}

/** Upper bound on a driver run's wall time, including process start-up. */
export function driverDeadlineMs(spec: LoadSpec): number {
  return spec.warmupMs + spec.durationMs + Math.min(spec.timeoutMs ?? DEFAULT_TIMEOUT_MS, 5_000) + PROCESS_SLACK_MS;
}

export interface DriverProcessOptions {
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

/**
 * Runs a driver command that speaks driverMain's protocol (`{"phase":"measure"}`, then one
 * outcome line or `{"error"}`) and returns the outcome; throws DriverProcessError naming the
 * command, how it ended (exit code or signal) and its stderr when it fails.
 */
export async function runDriverCommand<T extends DriverOutcome = DriverOutcome>(
  argv: readonly string[],
  spec: LoadSpec,
  label: string,
  options: DriverProcessOptions = {},
): Promise<T> {
  const result = await runChild(argv, { signal: options.signal, onSpawn: options.onSpawn, deadlineMs: driverDeadlineMs(spec) });
  const answer = lastJsonLine(result.stdout);
  if (result.exitCode !== 0 || answer === undefined || 'error' in answer || !('latencyUs' in answer)) {
    const ended = result.signal ? `killed by ${result.signal}` : `exit ${result.exitCode}`;
    const why = answer && typeof answer.error === 'string' ? `${answer.error} (${ended})` : `${ended}, no result line`;
    throw new DriverProcessError(`${label} failed: ${why}`, result.commandLine, result.exitCode, result.stderr, result.signal);
  }
  return answer as unknown as T;
}

/** The argv of the Node drivers' entry (driverMain.ts): autocannon or, for a spec with `grpc`, the Node gRPC driver. */
export function nodeDriverArgv(spec: LoadSpec, extra: readonly string[] = []): string[] {
  return [process.execPath, '--import', TSX_LOADER_URL, DRIVER_MAIN_PATH, ...extra, JSON.stringify(spec)];
}

/** Runs the autocannon driver (driverMain.ts) behind `spawnPrefix` and returns its outcome. */
export function runDriverProcess(
  spec: LoadSpec,
  spawnPrefix: readonly string[] = [],
  options: DriverProcessOptions = {},
): Promise<DriverOutcome> {
  return runDriverCommand([...spawnPrefix, ...nodeDriverArgv(spec)], spec, 'load driver', options);
}
