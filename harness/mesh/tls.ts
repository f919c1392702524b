// Certificates for security mtls: one CA per run, one certificate per workload, as Istio's
// CA (istiod) issues them — an EC P-256 key, no subject, the identity in a URI SAN as a
// SPIFFE id (spiffe://cluster.local/ns/<namespace>/sa/<service account>), here the pod's name
// as its service account. A DNS SAN (<pod>.<namespace>.svc.cluster.local) is added too:
// HAProxy checks a peer's name against DNS SANs (verifyhost), not URI SANs.
//
// Made with openssl from Debian through exec.ts run(). The CA's key and certificate stay in
// memory for the run (every cell's certificates chain to the same CA); the files a cell's
// proxies read are written under /run/meshbench/<run>/pki, a directory registered in the
// run's state.json before it is created, so the cell's teardown (and `meshbench clean`)
// removes them.
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../exec.ts';
import type { LocalCluster } from '../platform/local/cluster.ts';
import { LIVE_RUNS_DIR } from '../platform/local/names.ts';

export const TRUST_DOMAIN = 'cluster.local';
/** The namespace local pods' identities name (a local cluster has one namespace). */
export const LOCAL_NAMESPACE = 'default';
/** Certificates live a day: a run never outlasts them, and a leaked one is soon worthless. */
const VALID_DAYS = 1;

export function spiffeId(namespace: string, serviceAccount: string): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The DNS name a workload's certificate carries beside its SPIFFE id (what verifyhost checks). */
export function workloadDnsName(namespace: string, serviceAccount: string): string {
  return `${serviceAccount}.${namespace}.svc.${TRUST_DOMAIN}`;
}

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

export interface WorkloadCertificate {
  /** The identity in the URI SAN. */
  spiffeId: string;
  dnsName: string;
  certPem: string;
  keyPem: string;
}

/** What a proxy is given: its certificate and key in one PEM file (HAProxy's `crt`), and the CA it trusts. */
export interface TlsFiles {
  /** Certificate followed by its key. */
  certFile: string;
  caFile: string;
  spiffeId: string;
  dnsName: string;
}

async function withScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'meshbench-pki-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A self-signed CA (EC P-256), as a run's root of trust. `name` goes into its subject. */
export async function createCertificateAuthority(name: string): Promise<CertificateAuthority> {
  return withScratch(async (dir) => {
    const key = join(dir, 'ca.key');
    const cert = join(dir, 'ca.crt');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', key, '-out', cert, '-days', String(VALID_DAYS),
      '-subj', `/O=meshbench/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
  });
}

/** A workload certificate signed by `ca`: SPIFFE id and DNS name as SANs, client and server use. */
export async function issueWorkloadCertificate(
  ca: CertificateAuthority,
  identity: { namespace: string; serviceAccount: string },
): Promise<WorkloadCertificate> {
  const id = spiffeId(identity.namespace, identity.serviceAccount);
  const dnsName = workloadDnsName(identity.namespace, identity.serviceAccount);
  return withScratch(async (dir) => {
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    await run('openssl', [
      'req', '-new', '-x509', '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, 'w.key'), '-out', join(dir, 'w.crt'), '-days', String(VALID_DAYS),
      '-subj', '/O=meshbench',
      '-addext', `subjectAltName=URI:${id},DNS:${dnsName}`,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
      '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
    ]);
    return {
      spiffeId: id,
      dnsName,
      certPem: readFileSync(join(dir, 'w.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'w.key'), 'utf8'),
    };
  });
}

// One CA per run: made on the first cell that needs it, reused by the run's later cells.
const runAuthorities = new Map<string, Promise<CertificateAuthority>>();

export function runCertificateAuthority(runId: string): Promise<CertificateAuthority> {
  let ca = runAuthorities.get(runId);
  if (!ca) {
    ca = createCertificateAuthority(`meshbench run ${runId} CA`);
    ca.catch(() => runAuthorities.delete(runId));
    runAuthorities.set(runId, ca);
  }
  return ca;
}

/** The directory a cell's certificate files live in (removed with the run's /run/meshbench/<run>). */
export function pkiDir(runId: string): string {
  return join(LIVE_RUNS_DIR, runId, 'pki');
}

/**
 * A cell's PKI: issues certificates from the run's CA (or from `ca`, e.g. another CA in a
 * test of a wrong certificate) and writes them where a proxy running as `uid` can read them.
 */
export class CellPki {
  private readonly issued = new Map<string, TlsFiles>();

  constructor(
    private readonly cluster: LocalCluster,
    private readonly authority: () => Promise<CertificateAuthority> = () => runCertificateAuthority(cluster.runId),
  ) {}

  get dir(): string {
    return pkiDir(this.cluster.runId);
  }

  /** The files for one identity (a pod's service account, `ztunnel`, `waypoint-s1`), issued once per cell. */
  async filesFor(serviceAccount: string, options: { uid?: number; namespace?: string; ca?: CertificateAuthority } = {}): Promise<TlsFiles> {
    const namespace = options.namespace ?? LOCAL_NAMESPACE;
    const key = `${namespace}/${serviceAccount}`;
    const known = this.issued.get(key);
    if (known) return known;
    const runDir = join(LIVE_RUNS_DIR, this.cluster.runId);
    this.cluster.state.register({ kind: 'dir', path: runDir });
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const trusted = await this.authority();
    const cert = await issueWorkloadCertificate(options.ca ?? trusted, { namespace, serviceAccount });
    const caFile = join(this.dir, 'ca.crt');
    writeFileSync(caFile, trusted.certPem, { mode: 0o644 });
    const certFile = join(this.dir, `${namespace}.${serviceAccount}.pem`);
    writeFileSync(certFile, cert.certPem + cert.keyPem, { mode: 0o600 });
    if (options.uid !== undefined) chownSync(certFile, options.uid, options.uid);
    const files: TlsFiles = { certFile, caFile, spiffeId: cert.spiffeId, dnsName: cert.dnsName };
    this.issued.set(key, files);
    return files;
  }
}
