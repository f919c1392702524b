// End to end on an existing cluster (platform kubernetes), for real: the test makes a kind
// cluster of its own with kind itself, then treats it as someone's existing cluster. A
// baseline run must create nothing but its run-labelled namespaces, remove them, and leave
// the cluster as it was. Skipped with the reason where docker and kind are missing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeClient } from '../../harness/platform/kubernetes/kube.ts';
import { RUN_LABEL } from '../../harness/platform/kubernetes/names.ts';
import { meshbenchVersion } from '../../harness/results/environment.ts';
import { PINNED_VERSIONS } from '../../harness/platform/kubernetes/versions.ts';
import { meshbench, readResult, runDirOf } from './helpers.ts';
import { missingPrerequisites } from './prerequisites.ts';

const missing = await missingPrerequisites();
const skip = missing.length > 0 ? `not run: this host lacks ${missing.join('; ')}` : false;
const CLUSTER = 'meshbench-e2e-existing';

function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with ${r.status}`);
  return r.stdout;
}

describe('platform kubernetes on an existing cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshbench-e2e-k8s-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const image = `meshbench:${meshbenchVersion()}`;
  let namespacesBefore: string[] = [];
  let kube: KubeClient;

  before(async () => {
    if (skip) return;
    sh('kind', ['create', 'cluster', '--name', CLUSTER, '--config', 'kind-configs/one-node.yaml', '--image', PINNED_VERSIONS.kindNodeImage, '--kubeconfig', kubeconfig]);
    sh('docker', ['build', '-t', image, '.']);
    sh('kind', ['load', 'docker-image', image, '--name', CLUSTER]);
    kube = KubeClient.forContext(`kind-${CLUSTER}`, kubeconfig);
    namespacesBefore = (await kube.core.listNamespace()).items.map((n) => n.metadata!.name!).sort();
  });

  after(() => {
    if (!skip) spawnSync('kind', ['delete', 'cluster', '--name', CLUSTER, '--kubeconfig', kubeconfig], { stdio: 'inherit' });
    rmSync(dir, { recursive: true, force: true });
  });

  test('a baseline run creates only run-labelled namespaces and removes them', { skip, timeout: 30 * 60_000 }, async () => {
    const scenario = join(dir, 'existing.yaml');
    writeFileSync(
      scenario,
      `name: existing\nplatform: kubernetes\ncontext: kind-${CLUSTER}\nimage: ${image}\nmeshes: [baseline]\nservices: [1, 3]\n` +
        'load: {rate: 100, connections: 3, duration: 5s, warmup: 1s}\nrepeats: 1\n',
    );
    const seen = new Set<string>();
    const watcher = setInterval(() => {
      kube.core
        .listNamespace()
        .then((list) => list.items.forEach((n) => seen.add(`${n.metadata!.name!} ${n.metadata!.labels?.[RUN_LABEL] ?? '-'}`)))
        .catch(() => {}); // a missed poll only means fewer observations
    }, 500);
    const outRoot = join(dir, 'runs');
    const r = await meshbench(['run', scenario, '--out', outRoot], { env: { ...process.env, KUBECONFIG: kubeconfig } });
    clearInterval(watcher);
    const runDir = runDirOf(r.stderr, outRoot);
    const runId = runDir.slice(-5);
    const result = readResult(runDir);
    assert.equal(r.code, 0, result.notes.join('\n'));
    assert.equal(result.cells.length, 2);
    const created = [...seen].filter((entry) => !namespacesBefore.includes(entry.split(' ')[0]!));
    assert.ok(created.length > 0, 'the run made its namespaces');
    for (const entry of created) assert.match(entry, new RegExp(`^mb-${runId}-c\\d+ ${runId}$`), 'only run-labelled namespaces');
    const namespacesAfter = (await kube.core.listNamespace()).items.map((n) => n.metadata!.name!).sort();
    assert.deepEqual(namespacesAfter, namespacesBefore, 'the cluster is as it was');
  });
});
