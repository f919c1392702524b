#!/usr/bin/env node
// meshbench is TypeScript run through tsx: register its loader, then start the CLI.
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { setPriority } from 'node:os';
import { register } from 'tsx/esm/api';

// Called through the PATH symlink that scripts/setup.sh makes (/usr/local/bin/meshbench):
// the CLI knows its entry point by this file's real path.
if (process.argv[1]) process.argv[1] = realpathSync(process.argv[1]);
// `clean` may run beside a live run: it yields the CPUs from its first instruction, since its
// own start-up (tsx compiling the CLI) costs more CPU than its scan (platform/local/clean.ts).
if (process.argv[2] === 'clean') {
  try {
    setPriority(19);
    spawnSync('chrt', ['--all-tasks', '--idle', '--pid', '0', String(process.pid)], { stdio: 'ignore' });
  } catch {
    /* stays at its priority */
  }
}
register();
await import('../harness/cli/main.ts');
