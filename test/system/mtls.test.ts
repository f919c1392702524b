// The sidecar mesh with security mtls: TLS 1.3 on the wire between the two sidecars (the
// server sidecar's own TLS counters, an openssl client on the pod address that sees TLS 1.3
// and the server pod's SPIFFE id, and the server sidecar refusing plaintext), handshakes
// amortised over pooled connections, and a certificate from another CA failing the cell
// with a clear error through the one run pipeline.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../../harness/exec.ts';
import { registerMesh } from '../../harness/mesh/index.ts';
import { SidecarMesh, sidecar } from '../../harness/mesh/sidecar.ts';
import { CellPki, createCertificateAuthority, type CertificateAuthority, type TlsFiles } from '../../harness/mesh/tls.ts';
import type { MeshContext, MeshModule } from '../../harness/mesh/types.ts';
import { LocalCluster } from '../../harness/platform/local/cluster.ts';
import { LocalPlatform } from '../../harness/platform/local/platform.ts';
import { Haproxy } from '../../harness/proxy/haproxy.ts';
import { bringUp } from '../../harness/runner/cell.ts';
import { runScenario } from '../../harness/runner/run.ts';
import type { MeshName } from '../../harness/scenario/types.ts';
import { assertNothingLeft, requestsFromPod, requireRoot, testRun, testScenario } from './helpers.ts';

const REQUESTS = 12;
const WRONG_CA_MESH = 'sidecar-server-cert-from-another-ca';

/** The run's CA for everyone but the server pods, whose certificates come from another CA. */
class WrongServerCaPki extends CellPki {
  constructor(cluster: LocalCluster, private readonly other: Promise<CertificateAuthority>) {
    super(cluster);
  }
  override async filesFor(serviceAccount: string, options: Parameters<CellPki['filesFor']>[1] = {}): Promise<TlsFiles> {
    return super.filesFor(serviceAccount, serviceAccount.startsWith('server-') ? { ...options, ca: await this.other } : options);
  }
}

const otherCa = createCertificateAuthority('another CA');
otherCa.catch(() => {});

class WrongCaSidecarMesh extends SidecarMesh {
  override install(ctx: MeshContext): Promise<void> {
    return super.install({ ...ctx, pki: new WrongServerCaPki(ctx.cluster, otherCa) });
  }
}

const wrongCa: MeshModule<string> = { ...sidecar, name: WRONG_CA_MESH, colour: '#000001', local: () => new WrongCaSidecarMesh() };

describe('sidecar with mtls', () => {
  let unregister: (() => void) | undefined;
  const out = mkdtempSync(join(tmpdir(), 'meshbench-mtls-'));
  before(() => {
    requireRoot();
    unregister = registerMesh(wrongCa);
  });
  after(async () => {
    unregister?.();
    rmSync(out, { recursive: true, force: true });
    await assertNothingLeft();
  });

  test('TLS 1.3 between the sidecars with the pods’ SPIFFE ids; plaintext refused; handshakes amortised', async () => {
    const { runId, state } = testRun();
    const cluster = new LocalCluster(runId, state);
    try {
      const live = await bringUp({ mesh: 'sidecar', services: 1, security: 'mtls' }, { runId, state, proxy: new Haproxy(), scenario: testScenario() }, cluster);
      const server = live.servers[0]!;
      const responses = await requestsFromPod(cluster, live.client, `http://${live.services[0]!.vip}/`, REQUESTS);
      assert.deepEqual(responses.map((r) => r.status), Array(REQUESTS).fill(200));
      const counters = await live.mesh.pathCounters();
      assert.equal(counters['server-1/sidecar:inbound'], REQUESTS, JSON.stringify(counters));
      // One new client connection per request reaches the client sidecar; its pooled upstream
      // connection carries them all to the server sidecar: at most a couple of handshakes.
      const handshakes = counters['server-1/sidecar:inbound-tls-handshakes']!;
      assert.ok(handshakes >= 1 && handshakes <= 2, `server sidecar TLS sessions ${handshakes} for ${REQUESTS} requests`);
      assert.ok(counters['client-1/sidecar:upstream-tls-handshakes']! >= 1);
      assert.equal(counters['server-1/sidecar:inbound-tls-failed'], 0);

      // An openssl client on the node, with the client pod's certificate, at the server pod's
      // app port (captured to its sidecar): TLS 1.3, verified against the run's CA, the
      // server's SPIFFE id in the peer certificate.
      const pki = new CellPki(cluster);
      const clientFiles = await pki.filesFor('client-1');
      const sClient = await run('sh', ['-c',
        `echo | openssl s_client -connect ${server.ip}:8080 -cert ${clientFiles.certFile} -key ${clientFiles.certFile} -CAfile ${clientFiles.caFile} -verify_return_error -showcerts 2>&1 | ` +
        `tee /dev/stderr | openssl x509 -noout -ext subjectAltName 2>/dev/null; echo | openssl s_client -connect ${server.ip}:8080 -cert ${clientFiles.certFile} -key ${clientFiles.certFile} -CAfile ${clientFiles.caFile} -brief 2>&1`],
        { netns: cluster.node.netns, timeoutMs: 10_000, allowFailure: true });
      const text = sClient.stdout + sClient.stderr;
      assert.match(text, /Protocol version: TLSv1\.3/, text);
      assert.match(text, /Verification: OK/, text);
      assert.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/server-1/, text);

      // Plaintext HTTP at the same address: no HTTP answer, one failed handshake on the server
      // sidecar, and the cell's counters then fail it, naming that sidecar.
      const plain = await run(process.execPath, ['-e',
        `fetch('http://${server.ip}:8080/', { signal: AbortSignal.timeout(3000) }).then((r) => console.log('HTTP', r.status), (e) => console.log('refused', e.cause?.code ?? e.name))`,
      ], { netns: cluster.node.netns });
      assert.match(plain.stdout, /^refused/, plain.stdout);
      await assert.rejects(live.mesh.pathCounters(), /mtls: TLS handshakes failed \(1 at server-1's sidecar \(inbound\)\)/);
    } finally {
      await cluster.down();
      state.close();
    }
  });

  test('through the run: the mtls cell counts its handshakes; a server certificate from another CA fails its cell, saying why', async () => {
    const scenario = testScenario(
      { meshes: ['sidecar', WRONG_CA_MESH as MeshName], security: ['mtls'], probes: [] },
      { rate: 100, connections: 2, durationMs: 1500, warmupMs: 500, driver: 'autocannon' },
    );
    const scenarioRun = runScenario(scenario, { outRoot: out, platform: new LocalPlatform() });
    const result = await scenarioRun.done;
    const good = result.cells.find((c) => c.mesh === 'sidecar');
    assert.ok(good, result.notes.join('\n'));
    assert.equal(good.security, 'mtls');
    assert.equal(good.id, 'sidecar-http1-mtls-s1-r1');
    assert.ok(good.load.requests > 0 && good.load.non2xx === 0 && good.load.socketErrors === 0, JSON.stringify(good.load));
    const handshakes = good.path['server-1/sidecar:inbound-tls-handshakes']!;
    assert.ok(handshakes >= 1 && handshakes <= scenario.load.connections * 2, `handshakes ${handshakes}`);
    assert.ok(good.path['server-1/sidecar:inbound']! >= good.load.requests);

    assert.equal(result.status, 'failed');
    const note = result.notes.find((n) => n.includes(WRONG_CA_MESH));
    assert.ok(note, result.notes.join('\n'));
    assert.match(note, /mtls: TLS handshakes failed \(.*\d+ at client-1's sidecar \(upstream\)/);
    assert.match(note, /does not chain to the run's CA/);
  });
});
