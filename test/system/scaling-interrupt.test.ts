// A sweep interrupted with SIGINT cleans up all 100 pods: `meshbench run` of a 100-service
// sidecar scenario, SIGINT once the state file shows every pod's app and sidecar running
// (the cell is then in its idle window), exit 130, and `meshbench clean --dry-run` finds
// nothing of any run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findLeftovers } from '../../harness/platform/local/clean.ts';
import type { RunState } from '../../harness/platform/local/state.ts';
import type { RunResult } from '../../harness/results/types.ts';
import { assertNothingLeft, requireRoot } from './helpers.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = join(ROOT, 'bin', 'meshbench.js');
const SERVICES = 100;

// A long idle window: the interrupt lands while all 101 pods sit there, up.
const SCENARIO = `
name: scaling-interrupt
meshes: [sidecar]
services: [${SERVICES}]
load: { model: open, rate: 100, connections: ${SERVICES}, duration: 5s, warmup: 1s }
idle: 60s
repeats: 1
probes: []
`;

before(requireRoot);
after(assertNothingLeft);

test(`SIGINT with ${SERVICES + 1} pods up: exit 130, every pod, proxy and app gone`, { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshbench-scaling-sigint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'runs');
  const scenario = join(dir, 'scenario.yaml');
  writeFileSync(scenario, SCENARIO);
  const child = spawn(process.execPath, [BIN, 'run', scenario, '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    // Up: 101 sidecars and 100 apps registered as running processes of the run.
    const deadline = Date.now() + 150_000;
    let state: RunState | undefined;
    const processes = (s: RunState | undefined) => (s?.resources ?? []).filter((r) => r.kind === 'process');
    while (Date.now() < deadline) {
      const runId = existsSync(out) ? readdirSync(out)[0] : undefined;
      const path = runId ? join(out, runId, 'state.json') : undefined;
      try {
        state = path && existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as RunState) : undefined;
      } catch {
        state = undefined; // caught between write and rename
      }
      if (processes(state).filter((r) => r.kind === 'process' && r.name.endsWith('/server-app')).length === SERVICES) break;
      await sleep(250);
    }
    const running = processes(state);
    assert.equal(running.filter((r) => r.kind === 'process' && r.name.endsWith('/server-app')).length, SERVICES, `apps up before the deadline\n${stderr}`);
    assert.equal(running.filter((r) => r.kind === 'process' && r.name.endsWith('-sidecar')).length, SERVICES + 1, 'a sidecar in every pod');
    assert.equal(state!.resources.filter((r) => r.kind === 'netns').length, SERVICES + 2, 'client, servers and node namespaces');
    const live = await findLeftovers(state!.runId);
    assert.equal(live.length, 1);
    assert.ok(live[0]!.live, 'the run is live while it runs');
    process.kill(child.pid!, 'SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    const result = JSON.parse(readFileSync(join(out, state!.runId, 'result.json'), 'utf8')) as RunResult;
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(await findLeftovers(state!.runId), [], 'meshbench clean --dry-run finds resources of the run left behind');
    // Nor of any other run that is not running any more (a live one may be another user's).
    assert.deepEqual((await findLeftovers()).filter((l) => !l.live), [], 'leftovers of a finished run');
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      // The test failed on the way: do not leave 101 pods behind for the next one.
      child.kill('SIGKILL');
      await exited;
      const { clean } = await import('../../harness/platform/local/clean.ts');
      for (const runId of existsSync(out) ? readdirSync(out) : []) await clean({ dryRun: false, runId, force: true });
    }
  }
});
