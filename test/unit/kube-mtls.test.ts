// The Kubernetes objects of the meshes with security mtls (sidecar: Istio mutual TLS STRICT;
// ambient and waypoint: always mTLS, waypoint Gateways), validated against their schemas and
// snapshotted (test/unit/__snapshots__/kube-*-mtls-objects.yaml; UPDATE_SNAPSHOTS=1 to accept).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createKubeMesh } from '../../harness/mesh/index.ts';
import type { MeshManifestContext } from '../../harness/mesh/types.ts';
import { toYaml } from '../../harness/platform/kubernetes/manifests.ts';
import { matchSnapshot } from '../snapshot.ts';

const ctx: MeshManifestContext = {
  namespace: 'mb-ab12c-c3',
  labels: { 'meshbench.io/run': 'ab12c', 'meshbench.io/cell': 'x-http1-mtls-s2-r1' },
  serverSelector: { 'meshbench.io/role': 'server' },
  clientSelector: { 'meshbench.io/role': 'client' },
  appPort: 8080,
  services: 2,
};

describe('mesh objects with security mtls', () => {
  for (const mesh of ['sidecar', 'ambient', 'waypoint']) {
    test(`${mesh}: valid, snapshotted`, () => {
      const kube = createKubeMesh(mesh, 'mtls');
      const objects = kube.objects(ctx);
      for (const object of objects) assert.doesNotThrow(() => object.validate(), `${object.kind} ${object.metadata?.name}`);
      assert.ok(objects.some((o) => o.kind === 'PeerAuthentication'), 'a PeerAuthentication');
      matchSnapshot(`kube-${mesh}-mtls-objects.yaml`, toYaml(objects));
    });
  }

  test('waypoint: its services use their own waypoint', () => {
    const kube = createKubeMesh('waypoint', 'mtls');
    assert.deepEqual(kube.serviceLabels?.('s2'), { 'istio.io/use-waypoint': 's2-waypoint' });
    assert.deepEqual(kube.objects(ctx).filter((o) => o.kind === 'Gateway').map((o) => o.metadata?.name), ['s1-waypoint', 's2-waypoint']);
  });
});
