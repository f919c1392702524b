// `meshbench ARGS…` as a user runs it (bin/meshbench.js in a child process, from the
// repository root), for the tests that drive the whole program: its exit code and output,
// killed (and the test failed) when it does not finish in time.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MESHBENCH_BIN = join(REPO_ROOT, 'bin', 'meshbench.js');

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function meshbench(
  args: string[],
  options: { onStart?: (pid: number) => void; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Exit> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MESHBENCH_BIN, ...args], { cwd: REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`meshbench ${args.join(' ')} did not finish in time\n${stderr}`));
    }, options.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    if (child.pid !== undefined) options.onStart?.(child.pid);
  });
}
