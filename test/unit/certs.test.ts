// The run's CA and the workload certificates (openssl, in a temp dir): SPIFFE ids as URI
// SANs, the chain verifies against its own CA and not against another one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run } from '../../harness/exec.ts';
import {
  createCertificateAuthority, issueWorkloadCertificate, runCertificateAuthority, spiffeId, workloadDnsName,
} from '../../harness/mesh/tls.ts';

describe('certificates for mtls', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshbench-certs-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a workload certificate carries its SPIFFE id and DNS name and chains to its CA only', async () => {
    const ca = await createCertificateAuthority('test CA');
    const other = await createCertificateAuthority('another CA');
    const cert = await issueWorkloadCertificate(ca, { namespace: 'default', serviceAccount: 'server-1' });
    assert.equal(cert.spiffeId, 'spiffe://cluster.local/ns/default/sa/server-1');
    assert.equal(cert.dnsName, 'server-1.default.svc.cluster.local');
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'other.crt'), other.certPem);
    writeFileSync(join(dir, 'w.crt'), cert.certPem);
    const text = (await run('openssl', ['x509', '-in', join(dir, 'w.crt'), '-noout', '-ext', 'subjectAltName,extendedKeyUsage,basicConstraints'])).stdout;
    assert.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/server-1/);
    assert.match(text, /DNS:server-1\.default\.svc\.cluster\.local/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /CA:FALSE/);
    assert.equal((await run('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'w.crt')])).exitCode, 0);
    const wrong = await run('openssl', ['verify', '-CAfile', join(dir, 'other.crt'), join(dir, 'w.crt')], { allowFailure: true });
    assert.notEqual(wrong.exitCode, 0, 'a certificate does not verify against another CA');
    assert.match(cert.keyPem, /BEGIN PRIVATE KEY/);
  });

  test('one CA per run: the same for every cell of a run, another for another run', async () => {
    const [a1, a2, b] = await Promise.all([runCertificateAuthority('aaaaa'), runCertificateAuthority('aaaaa'), runCertificateAuthority('bbbbb')]);
    assert.equal(a1.certPem, a2.certPem);
    assert.notEqual(a1.certPem, b.certPem);
  });

  test('identity names', () => {
    assert.equal(spiffeId('ns1', 'ztunnel'), 'spiffe://cluster.local/ns/ns1/sa/ztunnel');
    assert.equal(workloadDnsName('ns1', 'waypoint-s2'), 'waypoint-s2.ns1.svc.cluster.local');
  });
});
