#!/usr/bin/env node
// meshbench is TypeScript run through tsx: register its loader, then start the CLI.
import { realpathSync } from 'node:fs';
import { register } from 'tsx/esm/api';

// Called through the PATH symlink that scripts/setup.sh makes (/usr/local/bin/meshbench):
// the CLI knows its entry point by this file's real path.
if (process.argv[1]) process.argv[1] = realpathSync(process.argv[1]);
register();
await import('../harness/cli/main.ts');
