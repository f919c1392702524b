#!/usr/bin/env node
// meshbench is TypeScript run through tsx: register its loader, then start the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../harness/cli/main.ts');
