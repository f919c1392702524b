// Helpers of the end-to-end suite: run the real CLI, and ask the real tools what exists.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../../harness/results/types.ts';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `meshbench …` as a user would; `onStderr` sees progress as it comes (e.g. to send SIGINT). */
export function meshbench(args: string[], options: { env?: NodeJS.ProcessEnv; onStderr?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'harness/cli/main.ts', ...args], { env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      process.stderr.write(d);
      options.onStderr?.(stderr, child);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function kindClusters(): string[] {
  const r = spawnSync('kind', ['get', 'clusters'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** Docker containers whose name starts with the prefix (kind node containers). */
export function containersNamed(prefix: string): string[] {
  const r = spawnSync('docker', ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((n) => n.startsWith(prefix));
}

export function readResult(runDir: string): RunResult {
  return JSON.parse(readFileSync(join(runDir, 'result.json'), 'utf8')) as RunResult;
}

/** The run directory a run printed (`results: runs/<id>`). */
export function runDirOf(stderr: string, outRoot: string): string {
  const id = /meshbench run ([0-9a-z]{5}):/.exec(stderr)?.[1];
  if (!id) throw new Error(`no run id in the output:\n${stderr.slice(-2000)}`);
  return join(outRoot, id);
}
