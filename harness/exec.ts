// One helper for every external command (ip, iptables, bpftool, haproxy, …): on failure it
// throws a CommandError naming the command line, exit code and stderr, so a failed step
// says exactly what failed.
import { execa } from 'execa';

export class CommandError extends Error {
  constructor(
    readonly commandLine: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(`command failed (exit ${exitCode ?? 'signal'}): ${commandLine}\n${stderr.trim()}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  input?: string;
  /** Network namespace to run the command in (via `ip netns exec`). */
  netns?: string;
  timeoutMs?: number;
  /** Do not throw on a non-zero exit; the caller inspects exitCode. */
  allowFailure?: boolean;
  cwd?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, argv] = options.netns ? ['ip', ['netns', 'exec', options.netns, cmd, ...args]] : [cmd, [...args]];
  const result = await execa(file, argv, {
    input: options.input,
    timeout: options.timeoutMs ?? 60_000,
    reject: false,
    cwd: options.cwd,
    stdin: options.input === undefined ? 'ignore' : undefined,
  });
  const exitCode = result.exitCode ?? -1;
  if (exitCode !== 0 && !options.allowFailure) {
    throw new CommandError([file, ...argv].join(' '), result.exitCode, String(result.stderr || result.stdout || ''));
  }
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode };
}

/** Whether an executable is on PATH. */
export async function hasCommand(name: string): Promise<boolean> {
  const r = await execa('sh', ['-c', `command -v ${name}`], { reject: false });
  return r.exitCode === 0;
}
