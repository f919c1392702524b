// kind-configs/ and what the kind platform runs: the cluster definitions parsed and
// checked, the Cilium variants, the command lines of kind, docker, istioctl and the cilium
// CLI, Cilium's Helm values, and the pinned versions. (These run for real only where docker
// and kind exist: npm run test:e2e-kind.)
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { InputError } from '../../harness/errors.ts';
import {
  REPO_ROOT, ciliumHelmValues, ciliumInstall, commandLine, dockerBuild, istioctlInstall, kindCreateCluster, kindDeleteCluster, kindLoadImage,
} from '../../harness/platform/kubernetes/commands.ts';
import {
  KIND_CONFIG_DIR, chooseKindConfig, defaultKindConfigPath, flavourProblems, flavourVariant, parseKindConfig, readKindConfig, workloadNodeCount,
} from '../../harness/platform/kubernetes/kindConfig.ts';
import { kindClusterName, parseKindClusterName } from '../../harness/platform/kubernetes/names.ts';
import { PINNED_VERSIONS, meshVersions, versionsAsEnv } from '../../harness/platform/kubernetes/versions.ts';
import { matchSnapshot } from '../snapshot.ts';


describe('kind-configs/', () => {
  test('exactly the four shapes: one node, three nodes, each with a Cilium variant', () => {
    assert.deepEqual(readdirSync(KIND_CONFIG_DIR).sort(), ['one-node-cilium.yaml', 'one-node.yaml', 'three-nodes-cilium.yaml', 'three-nodes.yaml']);
  });

  for (const nodes of [1, 3] as const) {
    for (const flavour of ['kube', 'cilium'] as const) {
      test(`${nodes} node(s), ${flavour}: parses, has its shape and its flavour's networking`, () => {
        const config = readKindConfig(defaultKindConfigPath(nodes, flavour));
        assert.equal(config.nodes.length, nodes);
        assert.equal(config.nodes.filter((n) => n.role === 'control-plane').length, 1);
        assert.equal(workloadNodeCount(config), nodes === 1 ? 1 : 2);
        assert.deepEqual(flavourProblems(config, flavour), []);
        assert.notDeepEqual(flavourProblems(config, flavour === 'kube' ? 'cilium' : 'kube'), [], 'a config serves one flavour only');
        if (flavour === 'cilium') assert.deepEqual(config.networking, { disableDefaultCNI: true, kubeProxyMode: 'none' });
        else assert.deepEqual(config.networking, { kubeProxyMode: 'iptables' });
        // Every node that runs workload sees the host's tracefs (the probes' tracepoints).
        for (const node of config.nodes.filter((n) => nodes === 1 || n.role === 'worker')) {
          assert.deepEqual(node.extraMounts, [{ hostPath: '/sys/kernel/tracing', containerPath: '/sys/kernel/tracing', readOnly: true }]);
        }
      });
    }
    test(`${nodes} node(s): the Cilium file is the kube file's Cilium variant, and back`, () => {
      const kube = readKindConfig(defaultKindConfigPath(nodes, 'kube'));
      const cilium = readKindConfig(defaultKindConfigPath(nodes, 'cilium'));
      assert.deepEqual(flavourVariant(kube, 'cilium'), cilium);
      assert.deepEqual(flavourVariant(cilium, 'kube'), kube);
    });
  }

  test('bad configs are refused with paths', () => {
    assert.throws(() => parseKindConfig('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\nnodes: []\n', 'c.yaml'), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.deepEqual(error.problems.map((p) => `${p.path}: ${p.message}`), [
        'apiVersion: must be kind.x-k8s.io/v1alpha4, got "kind.x-k8s.io/v1alpha3"',
        'nodes: must list at least one node',
      ]);
      return true;
    });
    assert.throws(
      () => parseKindConfig('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: [{role: worker}]\n', 'c.yaml'),
      /nodes: must have exactly one control-plane node, got 0/,
    );
    assert.throws(() => parseKindConfig('kind: Cluster\nnodes: [\n', 'c.yaml'), /YAML syntax error/);
  });

  test("a user's own config: checked against kind.nodes, turned into each flavour, keeping its other keys", (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-kind-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const own = join(dir, 'own.yaml');
    writeFileSync(
      own,
      'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n  - role: worker\n  - role: worker\n' +
        'containerdConfigPatches:\n  - |-\n    [plugins."io.containerd.grpc.v1.cri".registry]\n',
    );
    const cilium = chooseKindConfig({ nodes: 3, config: own }, 'cilium');
    assert.equal(cilium.path, undefined, 'derived: written to the run directory');
    const derived = YAML.parse(cilium.text!) as Record<string, unknown>;
    assert.deepEqual(derived.networking, { disableDefaultCNI: true, kubeProxyMode: 'none' });
    assert.ok(Array.isArray(derived.containerdConfigPatches));
    assert.deepEqual(flavourProblems(chooseKindConfig({ nodes: 3, config: own }, 'kube').config, 'kube'), []);
    assert.throws(() => chooseKindConfig({ nodes: 1, config: own }, 'kube'), /has 2 node\(s\) for workload, but the scenario says kind.nodes: 1/);
    assert.throws(() => chooseKindConfig({ nodes: 1, config: join(dir, 'missing.yaml') }, 'kube'), /cannot read the kind config/);
  });
});

describe('command lines', () => {
  test('kind: create with the run-named cluster, the config, the pinned node image, its own kubeconfig; no --wait', () => {
    const name = kindClusterName('ab12c', 'cilium');
    assert.equal(name, 'meshbench-ab12c-cilium');
    assert.deepEqual(parseKindClusterName(name), { runId: 'ab12c', flavour: 'cilium' });
    assert.equal(parseKindClusterName('kind'), undefined);
    assert.equal(parseKindClusterName('meshbench-ab12c-cilium-extra'), undefined);
    assert.equal(`${name}-control-plane`.length <= 63, true);
    const create = kindCreateCluster({ name, configPath: '/k/three-nodes-cilium.yaml', nodeImage: PINNED_VERSIONS.kindNodeImage, kubeconfig: '/r/kubeconfig-cilium' });
    assert.equal(
      commandLine(create),
      `kind create cluster --name meshbench-ab12c-cilium --config /k/three-nodes-cilium.yaml --image ${PINNED_VERSIONS.kindNodeImage} --kubeconfig /r/kubeconfig-cilium`,
    );
    assert.equal(create.args.some((a) => a.startsWith('--wait')), false, 'readiness comes from the API, not from kind');
    assert.equal(commandLine(kindDeleteCluster({ name, kubeconfig: '/r/k' })), 'kind delete cluster --name meshbench-ab12c-cilium --kubeconfig /r/k');
    assert.equal(commandLine(kindLoadImage({ image: 'meshbench:0.1.0', cluster: name })), 'kind load docker-image meshbench:0.1.0 --name meshbench-ab12c-cilium');
  });

  test('docker builds the project Dockerfile from the repository root', () => {
    assert.deepEqual(dockerBuild('meshbench:0.1.0').args, ['build', '--file', `${REPO_ROOT}Dockerfile`, '--tag', 'meshbench:0.1.0', REPO_ROOT]);
    assert.ok(existsSync(`${REPO_ROOT}Dockerfile`));
  });

  test('istioctl: minimal profile, pinned tag, native sidecars, no access logs, the run kubeconfig', () => {
    assert.equal(
      commandLine(istioctlInstall({ kubeconfig: '/r/kubeconfig-kube', version: '1.24.2' })),
      'KUBECONFIG=/r/kubeconfig-kube istioctl install --skip-confirmation --set profile=minimal --set tag=1.24.2 --set values.pilot.env.ENABLE_NATIVE_SIDECARS=true --set meshConfig.accessLogFile=',
    );
  });

  test('cilium: the pinned chart version with the values file', () => {
    assert.equal(
      commandLine(ciliumInstall({ kubeconfig: '/r/k', version: '1.16.5', valuesFile: '/r/cilium-values.yaml' })),
      'KUBECONFIG=/r/k cilium install --version 1.16.5 --values /r/cilium-values.yaml',
    );
  });

  test("Cilium's Helm values (snapshot): kube-proxy replacement, per-node Envoy, L7 proxy, no Hubble", () => {
    const values = ciliumHelmValues({ clusterName: 'meshbench-ab12c-cilium' });
    assert.equal(values.kubeProxyReplacement, true);
    assert.equal(values.k8sServiceHost, 'meshbench-ab12c-cilium-control-plane');
    assert.deepEqual(values.envoy, { enabled: true });
    assert.equal(values.l7Proxy, true);
    matchSnapshot('kube-cilium-values.yaml', YAML.stringify(values));
  });
});

describe('pinned versions', () => {
  test('one place, all of them; the node image pinned by digest', () => {
    assert.deepEqual(Object.keys(PINNED_VERSIONS).sort(), ['cilium', 'ciliumCli', 'helm', 'istio', 'kind', 'kindNodeImage', 'kubectl', 'kubernetes']);
    assert.match(PINNED_VERSIONS.kindNodeImage, /^kindest\/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$/);
    assert.ok(PINNED_VERSIONS.kindNodeImage.startsWith(`kindest/node:v${PINNED_VERSIONS.kubernetes}@`), 'node image and kubernetes agree');
    for (const [tool, version] of Object.entries(PINNED_VERSIONS)) {
      if (tool !== 'kindNodeImage') assert.match(version, /^\d+\.\d+\.\d+$/, tool);
    }
  });

  test('scenario versions override the pins; CI reads them as environment lines', () => {
    assert.deepEqual(meshVersions({}), { istio: PINNED_VERSIONS.istio, cilium: PINNED_VERSIONS.cilium });
    assert.deepEqual(meshVersions({ istio: '1.23.4' }), { istio: '1.23.4', cilium: PINNED_VERSIONS.cilium });
    const env = versionsAsEnv().split('\n');
    assert.ok(env.includes(`KIND_VERSION=${PINNED_VERSIONS.kind}`));
    assert.ok(env.includes(`CILIUM_CLI_VERSION=${PINNED_VERSIONS.ciliumCli}`));
    assert.ok(env.includes(`KIND_NODE_IMAGE=${PINNED_VERSIONS.kindNodeImage}`));
  });
});
