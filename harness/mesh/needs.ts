// What a mesh needs of the local platform (MeshRequirements.local, .mtlsLocal), checked on
// this host: `meshbench doctor` lists the checks, and a cell whose mesh lacks one for its
// security mode is recorded as not run, with the reason, instead of running another path.
//
// kernel-encryption: the node-to-node encryption Cilium offers — WireGuard (a `wireguard`
// link) or IPsec (an ESP xfrm state with AES-GCM, Cilium's default). Each is tried in a
// network namespace of its own that dies with the command (`unshare --net`), so the check
// leaves nothing behind.
import { hasCommand, run } from '../exec.ts';
import type { CellResult } from '../results/types.ts';
import { emptyLoadOutcome } from '../runner/cells.ts';
import type { Cell, Scenario, Security } from '../scenario/types.ts';
import { meshModule, meshModules } from './index.ts';
import type { LocalNeed } from './types.ts';

export interface NeedCheck {
  ok: boolean;
  /** What was found, or why it is missing. */
  detail: string;
  /** Why it is missing, in a few words (a table cell). */
  short?: string;
}

async function tryInScratchNetns(args: string[]): Promise<{ ok: boolean; stderr: string }> {
  const r = await run('unshare', ['--net', ...args], { allowFailure: true, timeoutMs: 10_000 });
  return { ok: r.exitCode === 0, stderr: (r.stderr || r.stdout).trim().split('\n')[0] ?? '' };
}

async function kernelEncryption(): Promise<NeedCheck> {
  const wireguard = await tryInScratchNetns(['ip', 'link', 'add', 'mbwgcheck', 'type', 'wireguard']);
  if (wireguard.ok) return { ok: true, detail: 'WireGuard links can be made' };
  const esp = await tryInScratchNetns([
    'ip', 'xfrm', 'state', 'add', 'src', '198.18.0.1', 'dst', '198.18.0.2', 'proto', 'esp', 'spi', '0x100', 'mode', 'tunnel',
    'aead', 'rfc4106(gcm(aes))', '0x0102030405060708090a0b0c0d0e0f1011121314', '128',
  ]);
  if (esp.ok) return { ok: true, detail: 'IPsec ESP (AES-GCM) states can be made' };
  return {
    ok: false,
    short: 'the kernel lacks WireGuard and ESP',
    detail: `the kernel lacks WireGuard and ESP (ip link add type wireguard: ${wireguard.stderr || 'failed'}; ip xfrm state add proto esp aead rfc4106(gcm(aes)): ${esp.stderr || 'failed'})`,
  };
}

const checks: Record<LocalNeed, () => Promise<NeedCheck>> = {
  iptables: async () => ((await hasCommand('iptables-restore')) ? { ok: true, detail: 'iptables-restore' } : { ok: false, detail: 'iptables-restore is missing' }),
  proxy: async () => ((await hasCommand('haproxy')) ? { ok: true, detail: 'haproxy' } : { ok: false, detail: 'haproxy is missing' }),
  'bpf-objects': async () => ({ ok: true, detail: 'checked by doctor (bpf objects)' }),
  openssl: async () => ((await hasCommand('openssl')) ? { ok: true, detail: 'openssl' } : { ok: false, detail: 'openssl is missing (certificates for mtls)' }),
  'kernel-encryption': kernelEncryption,
};

// Once per process: the host does not change during a run.
const cache = new Map<LocalNeed, Promise<NeedCheck>>();

export function checkLocalNeed(need: LocalNeed): Promise<NeedCheck> {
  let check = cache.get(need);
  if (!check) cache.set(need, (check = checks[need]()));
  return check;
}

/** Why a mesh cannot run in this security mode on the local platform (short, and in detail), or undefined when it can. */
export async function whyNotLocally(mesh: string, security: Security): Promise<{ reason: string; detail: string } | undefined> {
  if (security !== 'mtls') return undefined;
  const needs = meshModule(mesh).requires.mtlsLocal ?? [];
  for (const need of needs) {
    const check = await checkLocalNeed(need);
    if (!check.ok) {
      return {
        reason: `not run: ${check.short ?? check.detail}`,
        detail: `${mesh} with mtls needs node-to-node encryption (as Cilium's WireGuard or IPsec): ${check.detail}`,
      };
    }
  }
  return undefined;
}

/** A cell that was not run because this host lacks what its mesh needs in its security mode: the reason, nothing measured. */
export function notRunCell(cell: Cell, reason: string, scenario?: Scenario, detail?: string): CellResult {
  const now = new Date().toISOString();
  return { ...cell, status: 'not-run', notRunReason: reason, startedAt: now, finishedAt: now, load: emptyLoadOutcome(scenario), path: {}, notes: [detail ? `${reason}: ${detail}` : reason] };
}

/** For doctor: per mesh, whether its mtls cells run on this host (and why not), plus openssl for the certificates. */
export async function securityChecks(): Promise<Array<{ what: string; ok: boolean; detail: string; required: boolean }>> {
  const openssl = await checkLocalNeed('openssl');
  const checks = [{ what: 'openssl', ok: openssl.ok, detail: openssl.ok ? 'certificates for security mtls (a CA per run)' : openssl.detail, required: false }];
  for (const module of meshModules()) {
    const needs = module.requires.mtlsLocal ?? [];
    if (needs.length === 0) continue;
    const why = await whyNotLocally(module.name, 'mtls');
    checks.push({
      what: `mtls ${module.name}`,
      ok: why === undefined,
      detail: why === undefined ? `runs (${needs.join(', ')})` : `${module.name} cells with security mtls are ${why.reason}: ${why.detail}`,
      required: false,
    });
  }
  return checks;
}
