// The scenario keys of the kind and kubernetes platforms: what they accept, their
// defaults, and the exact problem (with its field path) for every mistake.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { withPlatformFlags } from '../../harness/platform/kubernetes/cli.ts';
import { loadScenarioFile, parseScenario, validateFiles } from '../../harness/scenario/load.ts';

const BASE = 'name: x\nservices: [1]\nload: {rate: 1, duration: 1s}\n';

function problemsOf(text: string): string[] {
  try {
    parseScenario(text, 'x.yaml');
  } catch (error) {
    assert.ok(error instanceof InputError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('accepted');
}

describe('scenarios/*-kind.yaml', () => {
  test('quick-kind.yaml is quick.yaml on one-node kind clusters', async () => {
    const kind = await loadScenarioFile('scenarios/quick-kind.yaml');
    assert.equal(kind.platform, 'kind');
    assert.deepEqual(kind.cluster, { placement: 'same-node', versions: {}, kind: { nodes: 1 } });
    const quick = await loadScenarioFile('scenarios/quick.yaml');
    const { cluster: _cluster, ...sameCells } = kind;
    assert.deepEqual({ ...sameCells, name: 'quick', platform: 'local' }, quick, 'same cells as quick.yaml');
  });

  test('nightly-kind.yaml: three nodes, cross-node, 1 and 10 services, 3 repeats', async () => {
    const nightly = await loadScenarioFile('scenarios/nightly-kind.yaml');
    assert.equal(nightly.platform, 'kind');
    assert.deepEqual(nightly.cluster, { placement: 'cross-node', versions: {}, kind: { nodes: 3 } });
    assert.deepEqual(nightly.services, [1, 10]);
    assert.equal(nightly.repeats, 3);
  });
});

describe('accepted', () => {
  test('platform kind alone gets one node, same-node, pinned versions', () => {
    assert.deepEqual(parseScenario(`${BASE}platform: kind\n`, 'x.yaml').cluster, { placement: 'same-node', versions: {}, kind: { nodes: 1 } });
  });

  test('every kind key', () => {
    const scenario = parseScenario(
      `${BASE}platform: kind\nimage: ghcr.io/me/meshbench:0.1.0\nplacement: cross-node\n` +
        'kind: {nodes: 3, config: kind-configs/three-nodes.yaml, nodeImage: "kindest/node:v1.31.2@sha256:18fbefc20a7113353c7b75b5c869d7145a6abd6269154825872dc59c1329912e"}\n' +
        'versions: {istio: 1.24.2, cilium: 1.16.5}\n',
      'x.yaml',
    );
    assert.deepEqual(scenario.cluster, {
      placement: 'cross-node',
      versions: { istio: '1.24.2', cilium: '1.16.5' },
      image: 'ghcr.io/me/meshbench:0.1.0',
      kind: {
        nodes: 3,
        config: 'kind-configs/three-nodes.yaml',
        nodeImage: 'kindest/node:v1.31.2@sha256:18fbefc20a7113353c7b75b5c869d7145a6abd6269154825872dc59c1329912e',
      },
    });
  });

  test('platform kubernetes with a context and an image', () => {
    const scenario = parseScenario(`${BASE}platform: kubernetes\ncontext: lab\nimage: registry.local:5000/meshbench:0.1.0\nplacement: cross-node\n`, 'x.yaml');
    assert.deepEqual(scenario.cluster, { placement: 'cross-node', versions: {}, context: 'lab', image: 'registry.local:5000/meshbench:0.1.0' });
  });

  test('a local scenario has no cluster settings at all', () => {
    assert.equal('cluster' in parseScenario(BASE, 'x.yaml'), false);
  });
});

describe('refused, with field paths', () => {
  test('cluster keys belong to their platforms', () => {
    assert.deepEqual(problemsOf(`${BASE}context: lab\nkind: {nodes: 1}\nplacement: same-node\n`), [
      'context: only with platform kubernetes, got platform local',
      'kind: only with platform kind, got platform local',
      'placement: only with nodes: 2 on platform local (or with platform kind or kubernetes), got nodes 1; add nodes: 2 or leave placement out',
    ]);
    assert.deepEqual(problemsOf(`${BASE}platform: kind\ncontext: lab\n`), ['context: only with platform kubernetes, got platform kind']);
    assert.deepEqual(problemsOf(`${BASE}platform: kubernetes\ncontext: lab\nimage: m:1\nkind: {nodes: 3}\n`), ['kind: only with platform kind, got platform kubernetes']);
  });

  test('platform kubernetes needs a context and an image, never implied', () => {
    assert.deepEqual(problemsOf(`${BASE}platform: kubernetes\n`), [
      'context: missing: the kubeconfig context of the existing cluster (platform kubernetes never falls back to the current context)',
      'image: missing: an image the cluster can pull, built from the Dockerfile, e.g. "ghcr.io/you/meshbench:0.1.0"',
    ]);
  });

  test('bad values of each key', () => {
    assert.deepEqual(
      problemsOf(
        `${BASE}platform: kind\nimage: "Not An Image"\nplacement: anywhere\n` +
          'kind: {nodes: 2, config: my-cluster.json, nodeImage: "kindest/node:v1.31.2@sha256:xyz"}\nversions: {istio: "1.24", cilium: 1.16}\n',
      ),
      [
        'image: must be an image reference such as "ghcr.io/you/meshbench:0.1.0", got "Not An Image"',
        'kind.nodes: must be 1 or 3 (one node, or a control plane and two workers as in kind-configs/), got 2',
        'kind.config: must be the path of a kind config file ending in .yaml, got "my-cluster.json"',
        'kind.nodeImage: must be an image reference such as "ghcr.io/you/meshbench:0.1.0", got "kindest/node:v1.31.2@sha256:xyz"',
        'placement: unknown placement "anywhere" (expected one of same-node, cross-node)',
        'versions.istio: must be an Istio version such as "1.2.3" (major.minor.patch), got "1.24"',
        'versions.cilium: must be a Cilium version such as "1.2.3", got 1.16',
      ],
    );
    assert.deepEqual(problemsOf(`${BASE}platform: kubernetes\ncontext: ""\nimage: m:1\n`), ['context: must be the name of a kubeconfig context, got ""']);
    assert.deepEqual(problemsOf(`${BASE}platform: kind\nkind: 3\nversions: [1.24.2]\n`), [
      'kind: must be a mapping (nodes, config, nodeImage), got 3',
      'versions: must be a mapping (istio, cilium), got a list',
    ]);
  });

  test('cross-node needs two workers', () => {
    assert.deepEqual(problemsOf(`${BASE}platform: kind\nplacement: cross-node\n`), [
      'placement: cross-node needs two worker nodes, got kind.nodes 1; use kind.nodes: 3 or placement: same-node',
    ]);
    assert.deepEqual(problemsOf(`${BASE}platform: kind\nplacement: cross-node\nkind: {nodes: 1}\n`), [
      'placement: cross-node needs two worker nodes, got kind.nodes 1; use kind.nodes: 3 or placement: same-node',
    ]);
  });

  test('unknown keys: the kind/kubernetes keys are listed only where they apply', () => {
    // The local key list, whatever other keys the schema has grown.
    const [localProblem] = problemsOf(`${BASE}reapeats: 2\n`);
    const localKeys = /expected one of (.*)\)$/.exec(localProblem!)![1]!;
    assert.equal(localKeys.includes('context'), false, 'a local scenario is not offered the cluster keys');
    const clusterKeys = `${localKeys}, context, image, kind, placement, versions`;
    assert.deepEqual(problemsOf(`${BASE}platform: kind\nnodes: 3\ncontex: lab\nkind: {workers: 2}\nversions: {linkerd: 2.14.0}\n`), [
      'nodes: only with platform local (two nodes joined by a wire; kind: kind.nodes), got platform kind',
      'kind.workers: unknown key "workers" (expected one of nodes, config, nodeImage)',
      'versions.linkerd: unknown key "linkerd" (expected one of istio, cilium)',
      `contex: unknown key "contex" (did you mean "context"? expected one of ${clusterKeys})`,
    ]);
    assert.deepEqual(problemsOf('name: x\nservices: [1]\nplatform: kind\nload: {rate: 1, duration: 1s, placement: cross-node}\n'), [
      'load.placement: unknown key "placement" (it belongs at the top level; expected one of model, rate, connections, duration, warmup, driver, spread, hotShare)',
    ]);
  });

  test('meshbench validate: exit-2 listing for a bad kind file', async () => {
    const { ok, output } = await validateFiles(['scenarios/quick-kind.yaml', 'scenarios/nightly-kind.yaml', 'does-not-exist-kind.yaml']);
    assert.equal(ok, false);
    assert.match(output, /^scenarios\/quick-kind\.yaml: ok\nscenarios\/nightly-kind\.yaml: ok\ndoes-not-exist-kind\.yaml: 1 problem/);
  });
});

describe('--platform and --context on the command line', () => {
  const local = parseScenario(BASE, 'x.yaml');

  test('--platform kind turns a local scenario into one-node kind', () => {
    assert.deepEqual(withPlatformFlags(local, { platform: 'kind' }).cluster, { placement: 'same-node', versions: {}, kind: { nodes: 1 } });
  });

  test('--platform local drops the cluster settings', () => {
    const kind = parseScenario(`${BASE}platform: kind\n`, 'x.yaml');
    assert.deepEqual(withPlatformFlags(kind, { platform: 'local' }), local);
  });

  test('--context needs platform kubernetes; kubernetes needs context and image', () => {
    assert.throws(() => withPlatformFlags(local, { context: 'lab' }), /--context: only with platform kubernetes, got platform local/);
    assert.throws(() => withPlatformFlags(local, { platform: 'kubernetes', context: 'lab' }), /image: missing/);
    assert.throws(() => withPlatformFlags(local, { platform: 'mars' }), /unknown platform "mars"/);
    const k8s = parseScenario(`${BASE}platform: kubernetes\ncontext: a\nimage: m:1\n`, 'x.yaml');
    assert.equal(withPlatformFlags(k8s, { context: 'b' }).cluster?.context, 'b');
  });
});
