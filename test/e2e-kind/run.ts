// `npm run test:e2e-kind`: the end-to-end suite on real kind clusters. Where docker and kind
// (and istioctl, cilium) exist it runs every test/e2e-kind/*.test.ts with node's test
// runner; where they do not, it prints that it did NOT run and why, and exits 77 — neither
// a pass (0) nor a test failure (1): the nightly workflow, which installs the tools, treats
// anything but 0 as a failed night.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { missingPrerequisites } from './prerequisites.ts';

export const EXIT_NOT_RUN = 77;

const missing = await missingPrerequisites();
if (missing.length > 0) {
  process.stderr.write(
    [
      'e2e-kind: NOT RUN — no test was executed, nothing passed. This host lacks:',
      ...missing.map((m) => `  - ${m}`),
      'The suite creates kind clusters (docker engine + kind), installs Istio with istioctl and Cilium with the',
      'cilium CLI (versions: harness/platform/kubernetes/versions.ts). It runs nightly in .github/workflows/nightly.yml (job kind).',
      '',
    ].join('\n'),
  );
  process.exit(EXIT_NOT_RUN);
}

const dir = 'test/e2e-kind';
const files = readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(dir, f));
process.stderr.write(`e2e-kind: running ${files.length} test files on real kind clusters (this takes a while)\n`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
