// What a cell applies to a cluster: every object of every mesh, with 1 and 30 services,
// validated against the Kubernetes and Istio schemas (kubernetes-models,
// @kubernetes-models/istio) and Cilium's policy schema, snapshot-tested, and checked for
// what must hold of it: labels, placement, least privilege of the probe DaemonSet.
// Snapshots live in test/unit/__snapshots__/kube-*.yaml; after an intended change,
// regenerate them with UPDATE_SNAPSHOTS=1 and review the diff.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { CiliumNetworkPolicy } from '../../harness/platform/kubernetes/ciliumPolicy.ts';
import {
  PROBE_CAPABILITIES, cellObjects, loadJob, loadSpec, probeObjects, toPlain, toYaml, validateManifests, type CellManifestInput, type Manifest,
} from '../../harness/platform/kubernetes/manifests.ts';
import { createKubeMesh } from '../../harness/mesh/index.ts';
import { CELL_LABEL, PROBES_NAME, RUN_LABEL, cellNamespace } from '../../harness/platform/kubernetes/names.ts';
import { cellId } from '../../harness/scenario/plan.ts';
import { MESH_NAMES, type LoadSettings, type MeshName } from '../../harness/scenario/types.ts';
import { matchSnapshot } from '../snapshot.ts';


const RUN_ID = 'ab12c';
const LOAD: LoadSettings = { model: 'open', rate: 300, connections: 4, durationMs: 10_000, warmupMs: 2_000, driver: 'autocannon' };

function input(mesh: MeshName, services: number, index = 3): CellManifestInput {
  return {
    runId: RUN_ID,
    cellId: cellId(mesh, 'http1', services, 1),
    namespace: cellNamespace(RUN_ID, index),
    mesh: createKubeMesh(mesh),
    services,
    workload: { responseBytes: 1024, delayUs: 500 },
    image: 'meshbench:0.1.0',
    clientNode: 'meshbench-ab12c-kube-worker',
    serverNode: 'meshbench-ab12c-kube-worker2',
  };
}

/** Everything a cell applies, Job included (cluster IPs as the API server would assign). */
function allObjects(mesh: MeshName, services: number): Manifest[] {
  const cell = input(mesh, services);
  const ips = Array.from({ length: services }, (_, i) => `10.96.${Math.floor((i + 10) / 250)}.${(i + 10) % 250}`);
  return [...cellObjects(cell, { probes: true }), loadJob(cell, loadSpec(LOAD, ips))];
}

type Plain = Record<string, any>;
const plain = (mesh: MeshName, services: number): Plain[] => toPlain(allObjects(mesh, services)) as Plain[];

describe('every generated manifest is valid against its schema', () => {
  for (const mesh of MESH_NAMES) {
    for (const services of [1, 30]) {
      test(`${mesh}, ${services} service(s)`, () => {
        const objects = allObjects(mesh, services);
        for (const object of objects) assert.doesNotThrow(() => object.validate(), `${object.kind} ${object.metadata?.name}`);
        const kinds = objects.map((o) => o.kind);
        assert.equal(kinds.filter((k) => k === 'Deployment').length, services);
        assert.equal(kinds.filter((k) => k === 'Service').length, services);
        assert.equal(kinds.filter((k) => k === 'Job').length, 1);
        assert.equal(kinds[0], 'Namespace', 'the namespace is applied first');
      });
    }
  }

  test('an invalid object is refused before anything is sent, naming it', () => {
    const broken = new Deployment({
      metadata: { name: 'x', namespace: 'n' },
      spec: { selector: { matchLabels: { a: 'b' } }, template: { spec: { containers: [{ name: 'c', ports: [{ containerPort: 'http' as unknown as number }] }] } } },
    });
    assert.throws(() => toPlain([broken]), /Deployment n\/x: .*containerPort must be integer/);
    const policy = new CiliumNetworkPolicy({ metadata: { name: 'p' }, spec: { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: '8080', protocol: 'HTTP' as 'TCP' }] }] }] } });
    assert.throws(() => validateManifests([policy]), /CiliumNetworkPolicy \/p: .*protocol/);
    const neither = new CiliumNetworkPolicy({ metadata: { name: 'p' }, spec: { ingress: [{}] } });
    assert.throws(() => neither.validate(), /exactly one of endpointSelector and nodeSelector/);
  });
});

describe('snapshots (test/unit/__snapshots__/kube-*.yaml)', () => {
  for (const mesh of MESH_NAMES) {
    for (const services of [1, 30]) {
      test(`kube-${mesh}-s${services}.yaml`, () => matchSnapshot(`kube-${mesh}-s${services}.yaml`, toYaml(allObjects(mesh, services))));
    }
  }
});

describe('what every cell must have', () => {
  test('every object carries the run and cell labels and lives in the cell namespace', () => {
    for (const mesh of MESH_NAMES) {
      for (const o of plain(mesh, 3)) {
        assert.equal(o.metadata.labels[RUN_LABEL], RUN_ID, `${o.kind} ${o.metadata.name}`);
        assert.equal(o.metadata.labels[CELL_LABEL], cellId(mesh, 'http1', 3, 1), `${o.kind} ${o.metadata.name}`);
        assert.equal(o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace, 'mb-ab12c-c3');
      }
    }
  });

  test('injection: on for sidecar cells, explicitly off for the others', () => {
    for (const mesh of MESH_NAMES) {
      const namespace = plain(mesh, 1).find((o) => o.kind === 'Namespace')!;
      assert.equal(namespace.metadata.labels['istio-injection'], mesh === 'sidecar' ? 'enabled' : 'disabled');
    }
  });

  test('mesh objects: Istio plaintext + Sidecar scope for sidecar, one L7 policy for ebpf, none for baseline and ebpf-l4', () => {
    const meshKinds = (mesh: MeshName): string[] =>
      plain(mesh, 1).filter((o) => !['Namespace', 'Deployment', 'Service', 'Job', 'DaemonSet', 'ServiceAccount'].includes(o.kind)).map((o) => `${o.apiVersion}/${o.kind}`);
    assert.deepEqual(meshKinds('baseline'), []);
    assert.deepEqual(meshKinds('ebpf-l4'), []);
    assert.deepEqual(meshKinds('sidecar'), [
      'security.istio.io/v1beta1/PeerAuthentication',
      'networking.istio.io/v1beta1/DestinationRule',
      'networking.istio.io/v1beta1/Sidecar',
    ]);
    assert.deepEqual(meshKinds('ebpf'), ['cilium.io/v2/CiliumNetworkPolicy']);
    const policy = plain('ebpf', 1).find((o) => o.kind === 'CiliumNetworkPolicy')!;
    assert.deepEqual(policy.spec.endpointSelector, { matchLabels: { 'meshbench.io/role': 'server' } });
    assert.deepEqual(policy.spec.ingress[0].toPorts[0].rules, { http: [{ method: 'GET', path: '/.*' }] }, 'an L7 rule: traffic goes through Envoy');
  });

  test('placement: servers on the server node, the driver on the client node', () => {
    const objects = plain('sidecar', 2);
    for (const d of objects.filter((o) => o.kind === 'Deployment')) {
      assert.deepEqual(d.spec.template.spec.nodeSelector, { 'kubernetes.io/hostname': 'meshbench-ab12c-kube-worker2' });
    }
    const job = objects.find((o) => o.kind === 'Job')!;
    assert.deepEqual(job.spec.template.spec.nodeSelector, { 'kubernetes.io/hostname': 'meshbench-ab12c-kube-worker' });
  });

  test('the driver gets the LoadSpec with every service by cluster IP, and no retries', () => {
    const job = plain('baseline', 3).find((o) => o.kind === 'Job')!;
    const command: string[] = job.spec.template.spec.containers[0].command;
    assert.deepEqual(command.slice(0, 4), ['node', '--import', 'tsx', 'harness/load/driverMain.ts']);
    assert.deepEqual(JSON.parse(command[4]!), {
      targets: [
        { host: '10.96.0.10', port: 80, path: '/' },
        { host: '10.96.0.11', port: 80, path: '/' },
        { host: '10.96.0.12', port: 80, path: '/' },
      ],
      model: 'open',
      connections: 4,
      durationMs: 10_000,
      warmupMs: 2_000,
      rate: 300,
    });
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.spec.template.spec.restartPolicy, 'Never');
  });

  test('the server app gets the scenario workload; its service speaks HTTP on port 80', () => {
    const objects = plain('baseline', 1);
    const server = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0];
    assert.deepEqual(server.command, [
      'node', '--import', 'tsx', 'harness/workload/httpServer.ts',
      '--host', '0.0.0.0', '--port', '8080', '--response-bytes', '1024', '--delay-us', '500',
    ]);
    const service = objects.find((o) => o.kind === 'Service')!;
    assert.deepEqual(service.spec.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }]);
    assert.equal(server.resources.limits, undefined, 'no CPU limit: throttling would distort latency');
  });
});

// ---------------------------------------------------------------------------------------
// Least privilege

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
}

/**
 * The RBAC rules a set of objects grants to a service account: every (Cluster)RoleBinding
 * naming it as a subject (directly or through its namespace's service-accounts group),
 * resolved to the rules of the role it binds.
 */
function rbacGrants(objects: readonly Plain[], account: { namespace: string; name: string }): Rule[] {
  const rules: Rule[] = [];
  for (const binding of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    const subjects: Plain[] = binding.subjects ?? [];
    const names = subjects.some(
      (s) =>
        (s.kind === 'ServiceAccount' && s.name === account.name && (s.namespace ?? binding.metadata.namespace) === account.namespace) ||
        (s.kind === 'Group' && ['system:serviceaccounts', `system:serviceaccounts:${account.namespace}`, 'system:authenticated'].includes(s.name)),
    );
    if (!names) continue;
    const role = objects.find((o) => o.kind === binding.roleRef.kind && o.metadata.name === binding.roleRef.name);
    // A binding to a role not in the set (e.g. cluster-admin) grants unknown, hence everything.
    rules.push(...(role ? (role.rules as Rule[]) : [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]));
  }
  return rules;
}

describe('the probe DaemonSet: least privilege', () => {
  const account = { namespace: 'mb-ab12c-c3', name: PROBES_NAME };

  test('rbacGrants finds grants when there are some (the check can fail)', () => {
    const role = { kind: 'Role', metadata: { name: 'r', namespace: account.namespace }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] };
    const binding = {
      kind: 'RoleBinding',
      metadata: { name: 'b', namespace: account.namespace },
      roleRef: { kind: 'Role', name: 'r' },
      subjects: [{ kind: 'ServiceAccount', name: PROBES_NAME, namespace: account.namespace }],
    };
    assert.deepEqual(rbacGrants([role, binding], account), role.rules);
    const admin = { ...binding, kind: 'ClusterRoleBinding', roleRef: { kind: 'ClusterRole', name: 'cluster-admin' } };
    assert.deepEqual(rbacGrants([admin], account), [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]);
  });

  test('it needs no API access, and RBAC grants it none, in every cell', () => {
    for (const mesh of MESH_NAMES) {
      const objects = plain(mesh, 30);
      assert.deepEqual(rbacGrants(objects, account), [], `${mesh}: RBAC grants the probes something`);
      assert.deepEqual(
        objects.filter((o) => /Role|Binding/.test(o.kind)).map((o) => o.kind),
        [],
        'a run creates no roles or bindings at all',
      );
      const serviceAccount = objects.find((o) => o.kind === 'ServiceAccount')!;
      assert.equal(serviceAccount.metadata.name, PROBES_NAME);
      assert.equal(serviceAccount.automountServiceAccountToken, false);
      // No pod of the cell gets an API token (Istio's sidecar brings its own, for istiod only).
      for (const o of objects.filter((x) => ['Deployment', 'DaemonSet', 'Job'].includes(x.kind))) {
        assert.equal(o.spec.template.spec.automountServiceAccountToken, false, `${o.kind} ${o.metadata.name}`);
      }
    }
  });

  test('privileged only as far as the loader needs: hostPID, BPF + PERFMON, read-only host paths', () => {
    const [, daemonSet] = toPlain(probeObjects(input('ebpf', 1))) as Plain[];
    const pod = daemonSet!.spec.template.spec;
    assert.equal(pod.serviceAccountName, PROBES_NAME);
    assert.equal(pod.hostPID, true);
    assert.equal(pod.hostNetwork, undefined);
    assert.equal(pod.hostIPC, undefined);
    assert.equal(pod.containers.length, 1);
    const security = pod.containers[0].securityContext;
    assert.deepEqual(security.capabilities, { drop: ['ALL'], add: [...PROBE_CAPABILITIES] });
    assert.deepEqual([...PROBE_CAPABILITIES].sort(), ['BPF', 'PERFMON']);
    assert.equal(security.privileged, false);
    assert.equal(security.allowPrivilegeEscalation, false);
    assert.equal(security.readOnlyRootFilesystem, true);
    assert.deepEqual(security.seccompProfile, { type: 'RuntimeDefault' });
    const hostPaths = pod.volumes.filter((v: Plain) => v.hostPath).map((v: Plain) => v.hostPath.path);
    assert.deepEqual(hostPaths, ['/sys/fs/cgroup', '/sys/kernel/tracing']);
    for (const mount of pod.containers[0].volumeMounts) {
      if (pod.volumes.find((v: Plain) => v.name === mount.name).hostPath) assert.equal(mount.readOnly, true, mount.name);
    }
    assert.equal(daemonSet!.spec.template.metadata.labels['sidecar.istio.io/inject'], 'false');
  });

  test('the apps and the driver run as non-root without capabilities', () => {
    for (const o of plain('sidecar', 1).filter((x) => x.kind === 'Deployment' || x.kind === 'Job')) {
      const pod = o.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.notEqual(pod.securityContext.runAsUser, 1337, "Istio's proxy uid is excluded from capture");
      for (const c of pod.containers) {
        assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      }
    }
  });
});

test('the YAML is what toPlain gives, document by document', () => {
  const documents = toYaml(allObjects('ebpf', 2)).split('---\n').map((d) => YAML.parse(d) as Plain);
  assert.deepEqual(documents, plain('ebpf', 2));
});
