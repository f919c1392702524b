// End to end on kind, for real: `meshbench run scenarios/quick-kind.yaml` goes from no
// cluster to a result and back to no cluster; every data path carried the load the way
// it claims (Istio's sidecars counted the requests, Cilium's node proxy did for ebpf and
// did not for ebpf-l4); an interrupted run leaves nothing behind. Needs a docker engine,
// kind, istioctl and the cilium CLI; without them every test here is skipped with the
// reason (and `npm run test:e2e-kind` reports NOT RUN).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeCellResult } from '../../harness/platform/kubernetes/cell.ts';
import { LIVE_KUBE_RUNS_DIR } from '../../harness/platform/kubernetes/state.ts';
import { PINNED_VERSIONS } from '../../harness/platform/kubernetes/versions.ts';
import { containersNamed, kindClusters, meshbench, readResult, runDirOf } from './helpers.ts';
import { missingPrerequisites } from './prerequisites.ts';

const missing = await missingPrerequisites();
const skip = missing.length > 0 ? `not run: this host lacks ${missing.join('; ')}` : false;
const HOUR_MS = 60 * 60_000;

describe('quick-kind on real kind clusters', () => {
  let outRoot: string;
  before(() => {
    if (skip) return;
    outRoot = mkdtempSync(join(tmpdir(), 'meshbench-e2e-'));
  });
  after(() => {
    if (outRoot) rmSync(outRoot, { recursive: true, force: true });
  });

  test('doctor says kind is ready for every mesh', { skip, timeout: 120_000 }, async () => {
    const r = await meshbench(['doctor']);
    assert.match(r.stdout, /kind platform: ready for baseline, sidecar, ebpf, ebpf-l4\n/);
  });

  test('from no cluster to a report and back to no cluster', { skip, timeout: HOUR_MS }, async () => {
    const clustersBefore = kindClusters();
    const r = await meshbench(['run', 'scenarios/quick-kind.yaml', '--out', outRoot]);
    const runDir = runDirOf(r.stderr, outRoot);
    const runId = runDir.slice(-5);
    assert.equal(r.code, 0, `exit ${r.code}; notes: ${existsSync(join(runDir, 'result.json')) ? readResult(runDir).notes.join(' | ') : 'no result.json'}`);

    const result = readResult(runDir);
    assert.equal(result.status, 'complete', result.notes.join('\n'));
    assert.equal(result.scenario.platform, 'kind');
    assert.equal(result.cells.length, 8);
    assert.ok(existsSync(join(runDir, 'summary.md')));
    assert.equal(readFileSync(join(runDir, 'cells.jsonl'), 'utf8').trim().split('\n').length, 8);
    // What ran, recorded.
    assert.equal(result.environment.tools['kube:kubernetes'], PINNED_VERSIONS.kubernetes);
    assert.equal(result.environment.tools['kube:istio'], PINNED_VERSIONS.istio);
    assert.equal(result.environment.tools['cilium:cilium'], PINNED_VERSIONS.cilium);
    assert.equal(result.environment.tools['kube:kindNodeImage'], PINNED_VERSIONS.kindNodeImage);

    for (const cell of result.cells as KubeCellResult[]) {
      const asked = (cell.load.requestedRps ?? 300) * (cell.load.measuredMs / 1000);
      assert.ok(cell.load.requests > 0.9 * asked, `${cell.id}: ${cell.load.requests} requests of ~${asked}`);
      assert.equal(cell.load.non2xx, 0, cell.id);
      assert.equal(cell.load.socketErrors, 0, cell.id);
      assert.ok(cell.load.latencyUs.p50 > 0, cell.id);
      assert.ok(Object.keys(cell.cpuSeconds ?? {}).some((k) => k.endsWith('/server-app')), `${cell.id}: server CPU measured`);
      const path = cell.path;
      if (cell.mesh === 'sidecar') {
        assert.ok(path['server-sidecar.requests']! >= cell.load.requests, `${cell.id}: the server sidecars counted ${path['server-sidecar.requests']}`);
        assert.ok(Object.keys(cell.cpuSeconds ?? {}).some((k) => k.endsWith('/server-sidecar')), cell.id);
      }
      if (cell.mesh === 'ebpf') assert.ok(path['node-proxy.l7-forwarded']! >= cell.load.requests, `${cell.id}: node proxy forwarded ${path['node-proxy.l7-forwarded']}`);
      if (cell.mesh === 'ebpf-l4') assert.equal(path['node-proxy.l7-forwarded'], 0, `${cell.id}: no proxy on the path`);
    }

    // Back to no cluster.
    assert.deepEqual(kindClusters().filter((c) => c.includes(runId)), []);
    assert.deepEqual(containersNamed(`meshbench-${runId}`), []);
    assert.deepEqual(kindClusters().filter((c) => !clustersBefore.includes(c)), []);
    assert.equal(existsSync(join(LIVE_KUBE_RUNS_DIR, `${runId}.json`)), false, 'the live-run marker is gone');
  });

  test('SIGINT while the first cell runs: interrupted, clusters deleted', { skip, timeout: HOUR_MS }, async () => {
    let sent = false;
    const r = await meshbench(['run', 'scenarios/quick-kind.yaml', '--out', outRoot], {
      onStderr: (text, child) => {
        if (!sent && /\[1\/8\] \S+ …/.test(text)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    assert.ok(sent, 'the run reached its first cell');
    assert.equal(r.code, 130);
    const runDir = runDirOf(r.stderr, outRoot);
    const runId = runDir.slice(-5);
    assert.equal(readResult(runDir).status, 'interrupted');
    assert.deepEqual(kindClusters().filter((c) => c.includes(runId)), []);
    assert.deepEqual(containersNamed(`meshbench-${runId}`), []);
  });
});
