// Runs the whole suite with node's test runner. Node 20 does not expand globs (an unmatched
// pattern runs 0 tests and exits 0), so the files are listed here explicitly. Unit tests
// first, then system tests (real namespaces, proxies, eBPF), one file at a time: they
// share the host's CPUs and measure latency.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function testFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...testFiles(path));
    else if (entry.name.endsWith('.test.ts')) files.push(path);
  }
  return files.sort();
}

const args = process.argv.slice(2);
const roots = args.length > 0 ? args : ['test/unit', 'test/system'];
const files = roots.flatMap((root) => (root.endsWith('.ts') ? [root] : testFiles(root)));
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ')}`);
  process.exit(1);
}
console.error(`running ${files.length} test files`);
// One runner invocation, so its closing lines count every test of the suite.
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
