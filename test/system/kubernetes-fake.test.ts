// The kubernetes platform's whole run — cells, path counters, CPU, result, report, cleanup
// by label — against a FAKE API server in this process (test/fakes/kubeApiServer.ts says
// what it fakes), since no cluster is reachable here; the nightly kind job is the real
// check. What is not fake: the harness's own code end to end (prepare, the Platform, the one
// run pipeline, @kubernetes/client-node over loopback HTTP and WebSocket, the analysis,
// report.html), and `meshbench clean --platform kubernetes` as a user runs it. What is fake:
// the cluster's behaviour, and the load outcomes, which the fake replays from a recorded
// real local run (test/fixtures/results/real-quick) and names so in `load.driver`.
//
// Then the same scenario runs on the local platform, for real, and both report.html files
// must have the same sections.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalPlatform } from '../../harness/platform/local/platform.ts';
import { KubernetesPlatform } from '../../harness/platform/kubernetes/platform.ts';
import { CELL_LABEL, RUN_LABEL } from '../../harness/platform/kubernetes/names.ts';
import type { RunResult } from '../../harness/results/types.ts';
import { runScenario } from '../../harness/runner/run.ts';
import { loadScenarioFile } from '../../harness/scenario/load.ts';
import { FAKE_CPU_US_PER_READ, FAKE_KUBERNETES_VERSION, FakeKubeApiServer } from '../fakes/kubeApiServer.ts';
import { meshbench } from '../cli.ts';
import { assertNothingLeft, requireRoot } from './helpers.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const RECORDED = 'test/fixtures/results/real-quick/result.json';
const recorded = JSON.parse(readFileSync(join(ROOT, RECORDED), 'utf8')) as RunResult;

// Cells as short as a run takes (1 s after 500 ms of warm-up): the fake replays recorded
// figures, and of the local run only the report's sections count, which follow from the
// scenario's shape (meshes, repeats), not from its figures.
const SCENARIO = `
name: fake-kube
meshes: [baseline, sidecar, ebpf, ebpf-l4]
services: [1]
workload: { responseBytes: 512, delay: 0ms }
load: { model: open, rate: 150, connections: 2, duration: 1s, warmup: 500ms, driver: autocannon }
repeats: 2
probes: []
`;

/** The recorded outcome of the same cell id in a real local run, named as the fake's replay. */
function replayedOutcome(namespaceLabels: Record<string, string>): Record<string, unknown> & { requests: number } {
  const cell = recorded.cells.find((c) => c.id === namespaceLabels[CELL_LABEL]);
  if (!cell) throw new Error(`no recorded cell ${namespaceLabels[CELL_LABEL]}`);
  return { ...cell.load, driver: `fake API server: replay of ${cell.load.driver} from ${RECORDED}` };
}

const sections = (html: string): string[] => [...html.matchAll(/<h2[^>]*>(.*?)<\/h2>/gs)].map((m) => m[1]!.replace(/<[^>]+>/g, '').trim());

describe('the kubernetes platform against a fake API server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshbench-kube-fake-'));
  const fake = new FakeKubeApiServer({ outcomeFor: replayedOutcome });
  const savedKubeconfig = process.env.KUBECONFIG;
  let context = '';
  let kubeconfig = '';
  let kubeReport = '';

  before(async () => {
    requireRoot();
    ({ context, kubeconfig } = await fake.start(dir));
    process.env.KUBECONFIG = kubeconfig;
  });
  after(async () => {
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = savedKubeconfig;
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
    await assertNothingLeft();
  });

  test('a whole run: cells, path counters, CPU, result.json, report.html; every namespace it made deleted', async () => {
    const file = join(dir, 'kube.yaml');
    writeFileSync(file, `${SCENARIO}platform: kubernetes\ncontext: ${context}\nimage: meshbench:fake\n`);
    const scenario = await loadScenarioFile(file);
    const run = runScenario(scenario, { outRoot: join(dir, 'runs'), platform: await KubernetesPlatform.prepare(scenario) });
    const failures: string[] = [];
    run.on('cell:failed', (cell, error) => failures.push(`${cell.id}: ${error.message}`));
    const result = await run.done;
    assert.deepEqual(failures, []);
    assert.equal(result.status, 'complete', result.notes.join('\n'));
    assert.equal(result.cells.length, 8);
    assert.equal(result.environment.tools.kubernetes, FAKE_KUBERNETES_VERSION);
    assert.match(result.environment.proxy.version, /istio-proxy \(Istio 1\.24\.2\), cilium-envoy \(Cilium 1\.16\.5\)/);

    for (const cell of result.cells) {
      const requests = cell.load.requests;
      assert.match(cell.load.driver, /^fake API server: replay of /);
      // Path counters: read through the pod proxy before and after, their increase kept.
      if (cell.mesh === 'sidecar') assert.deepEqual(cell.path, { 'client-sidecar.requests': requests, 'server-sidecar.requests': requests });
      else if (cell.mesh === 'ebpf') assert.deepEqual(cell.path, { 'node-proxy.l7-forwarded': requests });
      else if (cell.mesh === 'ebpf-l4') assert.deepEqual(cell.path, { 'node-proxy.l7-forwarded': 0 });
      else assert.deepEqual(cell.path, {});
      // CPU: the fake agent's cgroup reads, over the measured window (two reads apart).
      const cpu = cell.cpuSeconds ?? {};
      assert.ok(Object.keys(cpu).includes('server-1/server-app'), `${cell.id}: ${JSON.stringify(cpu)}`);
      for (const seconds of Object.values(cpu)) assert.equal(seconds, FAKE_CPU_US_PER_READ / 1e6);
      if (cell.mesh === 'sidecar') assert.ok('client-1/client-sidecar' in cpu && 'server-1/server-sidecar' in cpu, JSON.stringify(cpu));
    }
    assert.ok((result.analysis.comparisons ?? []).length > 0, 'comparisons computed as on the local platform');

    const stored = JSON.parse(readFileSync(join(run.runDir, 'result.json'), 'utf8')) as RunResult;
    assert.equal(stored.cells.length, 8);
    assert.equal(readFileSync(join(run.runDir, 'cells.jsonl'), 'utf8').trim().split('\n').length, 8);
    assert.match(readFileSync(join(run.runDir, 'summary.md'), 'utf8'), /sidecar/);
    kubeReport = readFileSync(join(run.runDir, 'report.html'), 'utf8');

    // Every object the run created went with its namespace; none of the run's namespaces is left.
    const namespaces = fake.created.filter((o) => o.kind === 'Namespace').map((o) => o.name);
    assert.equal(namespaces.length, 8, 'one namespace per cell');
    for (const o of fake.created.filter((x) => x.namespace && namespaces.includes(x.namespace))) {
      assert.ok(fake.deleted.some((d) => d.kind === o.kind && d.namespace === o.namespace && d.name === o.name), `${o.kind} ${o.namespace}/${o.name} deleted`);
    }
    assert.ok(fake.created.some((o) => o.kind === 'CiliumNetworkPolicy') && fake.created.some((o) => o.kind === 'PeerAuthentication'), 'the meshes\' objects were applied');
    assert.deepEqual(fake.list('Namespace', RUN_LABEL).map((n) => n.metadata.name), []);
    const state = JSON.parse(readFileSync(join(run.runDir, 'kube-state.json'), 'utf8')) as { namespaces: unknown[] };
    assert.deepEqual(state.namespaces, []);
  });

  test('`meshbench clean --platform kubernetes` against the fake finds nothing left', async () => {
    const cleaned = await meshbench(['clean', '--platform', 'kubernetes', '--context', context, '--json'], { env: { ...process.env, KUBECONFIG: kubeconfig }, timeoutMs: 60_000 });
    assert.equal(cleaned.code, 0, cleaned.stderr);
    const report = JSON.parse(cleaned.stdout) as { removed: unknown[]; errors: string[] };
    assert.deepEqual(report.removed, []);
    assert.deepEqual(report.errors, []);
  });

  test('report.html has the same sections as a local run of the same scenario', async () => {
    assert.ok(kubeReport, 'the kubernetes run wrote report.html');
    const file = join(dir, 'local.yaml');
    writeFileSync(file, SCENARIO);
    const scenario = await loadScenarioFile(file);
    const run = runScenario(scenario, { outRoot: join(dir, 'runs'), platform: new LocalPlatform() });
    const result = await run.done;
    assert.equal(result.status, 'complete', result.notes.join('\n'));
    const localSections = sections(readFileSync(join(run.runDir, 'report.html'), 'utf8'));
    assert.ok(localSections.length >= 3, localSections.join(' | '));
    assert.deepEqual(sections(kubeReport), localSections);
  });
});
