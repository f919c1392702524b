// `meshbench doctor`: what this host can run, and why not.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { hasCommand } from '../exec.ts';
import { SOCK_LB_OBJECT } from '../mesh/sockLb.ts';
import { securityChecks } from '../mesh/needs.ts';
import { probeSupport } from '../probes/index.ts';
import { kubeDoctorChecks, kubePlatformSummary } from '../platform/kubernetes/doctor.ts';

export interface Check {
  what: string;
  ok: boolean;
  /** Why it matters when it is not ok, or what was found. */
  detail: string;
  /** A missing optional item does not stop the local platform. */
  required: boolean;
}

function mounted(path: string, fsType: string): boolean {
  try {
    return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === path && l.split(' ')[2] === fsType);
  } catch {
    return false;
  }
}

export async function doctorChecks(): Promise<Check[]> {
  const checks: Check[] = [];
  const root = process.getuid?.() === 0;
  checks.push({ what: 'root', ok: root, detail: root ? 'running as root' : 'netns, iptables, cgroups and eBPF need root', required: true });
  const btf = existsSync('/sys/kernel/btf/vmlinux');
  checks.push({ what: 'kernel BTF', ok: btf, detail: btf ? '/sys/kernel/btf/vmlinux' : 'CO-RE eBPF objects need /sys/kernel/btf/vmlinux', required: true });
  const cg2 = existsSync('/sys/fs/cgroup/unified/cgroup.procs');
  checks.push({ what: 'cgroup v2', ok: cg2, detail: cg2 ? '/sys/fs/cgroup/unified' : 'the socket LB attaches to a cgroup v2 directory at /sys/fs/cgroup/unified', required: true });
  const mem = existsSync('/sys/fs/cgroup/memory/cgroup.procs');
  checks.push({ what: 'cgroup v1 memory', ok: mem, detail: mem ? '/sys/fs/cgroup/memory' : 'pods mirror their cgroup under the v1 memory controller', required: true });
  const bpffs = mounted('/sys/fs/bpf', 'bpf');
  checks.push({ what: 'bpffs', ok: bpffs, detail: bpffs ? '/sys/fs/bpf' : 'not mounted (the set-up script mounts it)', required: true });
  let objectOk = false;
  try {
    accessSync(SOCK_LB_OBJECT, constants.R_OK);
    objectOk = true;
  } catch {
    /* not built */
  }
  checks.push({ what: 'bpf objects', ok: objectOk, detail: objectOk ? SOCK_LB_OBJECT : 'not built: run `make -C bpf` (the set-up script does)', required: true });
  const tools: Array<[string, string, boolean]> = [
    ['ip', 'network namespaces and veths (iproute2)', true],
    ['iptables', 'baseline DNAT and sidecar capture', true],
    ['iptables-restore', 'batched iptables rules', true],
    ['ss', 'readiness checks (iproute2)', true],
    ['setpriv', 'sidecars run under their own uid (util-linux)', true],
    ['taskset', 'CPU pinning of the driver and the pods (util-linux)', true],
    ['bpftool', 'loading and attaching the eBPF data path', true],
    ['haproxy', 'the L7 proxy of the sidecar and ebpf meshes', true],
    ['clang', 'building the eBPF objects', true],
    ['wrk', 'the reference HTTP load driver (bench:driver, capacity cells)', false],
    ['h2load', 'HTTP/2 reference driver', false],
    ['nginx', 'reference server for bench:driver', false],
    ['envoy', 'Envoy as the mesh proxy (HAProxy is used without it)', false],
  ];
  for (const [name, why, required] of tools) {
    const ok = await hasCommand(name);
    checks.push({ what: name, ok, detail: ok ? why : `missing: ${why}`, required });
  }
  const cpus = availableParallelism();
  checks.push({
    what: 'CPUs',
    ok: cpus >= 2,
    detail: cpus >= 2 ? `${cpus}: driver on CPU 0, pods on the rest` : 'one CPU: the driver shares it with the proxies it measures',
    required: false,
  });
  // Each probe is loaded and attached once, briefly: a probe this kernel refuses says why.
  const probes = await probeSupport();
  for (const [probe, support] of Object.entries(probes)) {
    checks.push({
      what: `probe ${probe}`,
      ok: support.ok,
      detail: support.ok ? 'loads and attaches' : `cannot run: ${support.why ?? 'unknown'} (cells run without it and say so)`,
      required: false,
    });
  }
  // security mtls: openssl, and each mesh that needs more of this host (kernel encryption for the eBPF meshes).
  checks.push(...(await securityChecks()));
  checks.push(...(await kubeDoctorChecks()));
  return checks;
}

export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.what.length));
  const lines = checks.map((c) => `${c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn'}  ${c.what.padEnd(width)}  ${c.detail}`);
  const blocking = checks.filter((c) => c.required && !c.ok);
  lines.push('');
  lines.push(
    blocking.length === 0
      ? 'local platform: ready'
      : `local platform: cannot run (${blocking.map((c) => c.what).join(', ')})`,
  );
  lines.push(...kubePlatformSummary(checks));
  return lines.join('\n');
}
