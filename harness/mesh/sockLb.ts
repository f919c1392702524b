// User side of the eBPF socket-level load balancer (bpf/sock_lb.bpf.c), the kernel part
// of the `ebpf` and `ebpf-l4` data paths: loads and pins the programs and maps, attaches
// them to a cgroup v2 directory, fills the service and backend maps, and reads the
// per-service rewrite counters. Every step is a bpftool call through run().
//
// Pin layout under pinDir:  progs/socklb_connect4, progs/socklb_getpeer4,
//                           maps/socklb_svc, maps/socklb_backend, maps/socklb_rewrites, maps/socklb_orig
//
// The maps themselves are the state: setServices() diffs against what the kernel holds,
// so any process can drive a balancer another one loaded (new SockLb(pinDir, cgroupDir)),
// and a batch that failed half-way is repaired by the next call.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostError } from '../errors.ts';
import { run } from '../exec.ts';
import { cgroupPrograms, detachPinnedPrograms } from '../platform/local/bpfAttach.ts';

export interface SockLbBackend {
  /** IPv4 address: a backend pod (ebpf-l4) or the node proxy (ebpf). */
  ip: string;
  port: number;
}

export interface SockLbService {
  /** Service VIP (IPv4) and port that clients connect to. */
  vip: string;
  port: number;
  /** At most SOCK_LB_MAX_BACKENDS_PER_SERVICE; empty: the VIP is known but not rewritten. */
  backends: SockLbBackend[];
}

/** Absolute path of the compiled object (`make -C bpf`). */
export const SOCK_LB_OBJECT: string = fileURLToPath(new URL('../../bpf/build/sock_lb.bpf.o', import.meta.url));

// Mirrors of bpf/sock_lb.h.
export const SOCK_LB_MAX_SERVICES = 1024;
export const SOCK_LB_MAX_BACKENDS_PER_SERVICE = 64;

/** Kernel names (<= 15 characters, as bpftool shows them) of the two programs. */
export const SOCK_LB_PROGRAMS = ['socklb_connect4', 'socklb_getpeer4'] as const;
const ATTACH_TYPES: Record<(typeof SOCK_LB_PROGRAMS)[number], string> = {
  socklb_connect4: 'connect4',
  socklb_getpeer4: 'getpeername4',
};

const MAP_SERVICES = 'socklb_svc';
const MAP_BACKENDS = 'socklb_backend';
const MAP_REWRITES = 'socklb_rewrites';

/**
 * Loads sock_lb.bpf.o, pins its programs and maps under pinDir (which must not exist yet;
 * its parent is created) and attaches connect4 + getpeername4 to cgroupDir (a cgroup v2
 * directory) with the `multi` flag, so other programs can still attach in the subtree.
 * On any failure it undoes what it did and rethrows.
 */
export async function loadSockLb(pinDir: string, cgroupDir: string): Promise<SockLb> {
  checkPath(pinDir);
  if (!existsSync(SOCK_LB_OBJECT)) {
    throw new HostError(`${SOCK_LB_OBJECT} is missing: build it with \`make -C bpf\``);
  }
  if (existsSync(pinDir)) {
    throw new Error(`${pinDir} already exists (left by an earlier run?): removeSockLb() it first`);
  }
  await mkdir(pinDir, { recursive: true });
  try {
    await run('bpftool', ['prog', 'loadall', SOCK_LB_OBJECT, join(pinDir, 'progs'), 'pinmaps', join(pinDir, 'maps')]);
    for (const program of SOCK_LB_PROGRAMS) {
      await run('bpftool', ['cgroup', 'attach', cgroupDir, ATTACH_TYPES[program], 'pinned', join(pinDir, 'progs', program), 'multi']);
    }
  } catch (error) {
    await removeSockLb(pinDir, cgroupDir);
    throw error;
  }
  return new SockLb(pinDir, cgroupDir);
}

/**
 * Idempotent teardown from paths alone (cleanup after a crash): detaches every program
 * pinned under pinDir that is attached to cgroupDir, then removes pinDir, which drops the
 * last reference to programs and maps (platform/local/bpfAttach.ts, as teardown does).
 */
export async function removeSockLb(pinDir: string, cgroupDir: string): Promise<void> {
  await detachPinnedPrograms(pinDir, cgroupDir);
}

export class SockLb {
  constructor(
    readonly pinDir: string,
    readonly cgroupDir: string,
  ) {
    checkPath(pinDir);
  }

  /**
   * Makes the maps hold exactly these services (services not listed are removed), in one
   * `bpftool batch`. Order keeps every connect valid while it runs: a service's backends
   * are written before its count, a shrinking service's surplus slots deleted after it,
   * a removed service's entry deleted before its backends. A new service gets a service id
   * no current entry uses, and its counter starts at 0.
   */
  async setServices(services: SockLbService[]): Promise<void> {
    validateServices(services);
    const [currentServices, currentBackends] = await Promise.all([
      this.dumpHashMap(MAP_SERVICES),
      this.dumpHashMap(MAP_BACKENDS),
    ]);
    // Backend slots present in the kernel, by service key prefix (vip + port bytes).
    const slotsByService = new Map<string, Map<number, string>>();
    for (const [keyHex, valueHex] of currentBackends) {
      const { servicePrefix, slot } = decodeKeyHex(keyHex);
      if (!slotsByService.has(servicePrefix)) slotsByService.set(servicePrefix, new Map());
      slotsByService.get(servicePrefix)!.set(slot, valueHex);
    }

    const wanted = new Set(services.map((s) => hex(encodeKey(s.vip, s.port, 0))));
    // Ids for new services: first those no entry uses, then those of services removed in
    // this batch (an in-flight connect of a removed service could still bump its counter
    // after the reset, so such ids are reused only when nothing else is free).
    const idsInUse = new Set([...currentServices.values()].map((valueHex) => decodeServiceHex(valueHex).id));
    const idsOfRemoved = [...currentServices]
      .filter(([keyHex]) => !wanted.has(keyHex))
      .map(([, valueHex]) => decodeServiceHex(valueHex).id);
    const freeIds = [...Array(SOCK_LB_MAX_SERVICES).keys()].filter((id) => !idsInUse.has(id)).concat(idsOfRemoved);

    const lines: string[] = [];
    const update = (map: string, keyHex: string, valueHex: string) =>
      lines.push(`map update pinned ${join(this.pinDir, 'maps', map)} key hex ${keyHex} value hex ${valueHex}`);
    const remove = (map: string, keyHex: string) =>
      lines.push(`map delete pinned ${join(this.pinDir, 'maps', map)} key hex ${keyHex}`);

    for (const keyHex of currentServices.keys()) {
      if (!wanted.has(keyHex)) remove(MAP_SERVICES, keyHex);
    }
    // Backends of services not wanted, including orphans an interrupted batch left.
    const wantedPrefixes = new Set([...wanted].map((keyHex) => decodeKeyHex(keyHex).servicePrefix));
    for (const [servicePrefix, slots] of slotsByService) {
      if (wantedPrefixes.has(servicePrefix)) continue;
      for (const slot of slots.keys()) remove(MAP_BACKENDS, `${servicePrefix} ${hex(u16Host(slot))}`);
    }

    for (const service of services) {
      const keyHex = hex(encodeKey(service.vip, service.port, 0));
      const currentValue = currentServices.get(keyHex);
      let id: number;
      if (currentValue === undefined) {
        // Never undefined: at most SOCK_LB_MAX_SERVICES services are wanted (validated).
        id = freeIds.shift()!;
        // percpu map: bpftool 7.1 writes one value to every CPU.
        update(MAP_REWRITES, hex(u32Host(id)), hex(Buffer.alloc(8)));
      } else {
        id = decodeServiceHex(currentValue).id;
      }
      const slots = slotsByService.get(decodeKeyHex(keyHex).servicePrefix) ?? new Map<number, string>();
      service.backends.forEach((backend, index) => {
        const valueHex = hex(encodeBackend(backend.ip, backend.port));
        if (slots.get(index + 1) !== valueHex) {
          update(MAP_BACKENDS, hex(encodeKey(service.vip, service.port, index + 1)), valueHex);
        }
      });
      const serviceHex = hex(encodeService(service.backends.length, id));
      if (currentValue !== serviceHex) update(MAP_SERVICES, keyHex, serviceHex);
      for (const slot of slots.keys()) {
        if (slot > service.backends.length) remove(MAP_BACKENDS, hex(encodeKey(service.vip, service.port, slot)));
      }
    }

    if (lines.length === 0) return;
    await run('bpftool', ['batch', 'file', '-'], { input: lines.join('\n') + '\n' });
  }

  /** Connects rewritten so far, per current service ("vip:port"), summed over CPUs. */
  async rewriteCounts(): Promise<Map<string, number>> {
    const [services, rewrites] = await Promise.all([
      this.dumpHashMap(MAP_SERVICES),
      this.bpftoolJson<PerCpuEntry[]>(['map', 'dump', 'pinned', join(this.pinDir, 'maps', MAP_REWRITES)]),
    ]);
    const countById = new Map<number, number>();
    for (const entry of rewrites) {
      const id = readU32Host(bytesOf(entry.key), 0);
      let total = 0n;
      for (const perCpu of entry.values) total += readU64Host(bytesOf(perCpu.value));
      countById.set(id, Number(total));
    }
    const counts = new Map<string, number>();
    for (const [keyHex, valueHex] of services) {
      const key = Buffer.from(keyHex.replaceAll(' ', ''), 'hex');
      const name = `${key.subarray(0, 4).join('.')}:${key.readUInt16BE(4)}`;
      counts.set(name, countById.get(decodeServiceHex(valueHex).id) ?? 0);
    }
    return counts;
  }

  /** Names of the programs attached to the cgroup itself (any owner), for tests and doctor. */
  async attachedTo(): Promise<string[]> {
    return (await cgroupPrograms(this.cgroupDir)).map((p) => p.name);
  }

  /** key hex → value hex ("c6 13 00 01 …") of a pinned hash map. */
  private async dumpHashMap(map: string): Promise<Map<string, string>> {
    const entries = await this.bpftoolJson<HashEntry[]>(['map', 'dump', 'pinned', join(this.pinDir, 'maps', map)]);
    return new Map(entries.map((e) => [hex(bytesOf(e.key)), hex(bytesOf(e.value))]));
  }

  private async bpftoolJson<T>(args: string[]): Promise<T> {
    const { stdout } = await run('bpftool', ['-j', ...args]);
    return JSON.parse(stdout) as T;
  }
}

// ---- bpftool JSON shapes --------------------------------------------------------------

/** Raw bytes as bpftool -j prints them: ["0xc6", "0x13", …]. */
type HexBytes = string[];
interface HashEntry {
  key: HexBytes;
  value: HexBytes;
}
interface PerCpuEntry {
  key: HexBytes;
  values: { cpu: number; value: HexBytes }[];
}
function bytesOf(hexBytes: HexBytes): Buffer {
  return Buffer.from(hexBytes.map((b) => parseInt(b, 16)));
}

// ---- encoders, one per struct of bpf/sock_lb.h ------------------------------------------
// Addresses and ports in network order; counts, slots and ids in host order.

const hostIsLittleEndian = endianness() === 'LE';

function hex(bytes: Buffer): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function u16Host(value: number): Buffer {
  const b = Buffer.alloc(2);
  if (hostIsLittleEndian) b.writeUInt16LE(value);
  else b.writeUInt16BE(value);
  return b;
}

function u32Host(value: number): Buffer {
  const b = Buffer.alloc(4);
  if (hostIsLittleEndian) b.writeUInt32LE(value);
  else b.writeUInt32BE(value);
  return b;
}

function readU32Host(b: Buffer, offset: number): number {
  return hostIsLittleEndian ? b.readUInt32LE(offset) : b.readUInt32BE(offset);
}

function readU64Host(b: Buffer): bigint {
  return hostIsLittleEndian ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
}

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function u16Network(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

/** struct sock_lb_key { __u32 vip; __u16 port; __u16 slot; } */
function encodeKey(vip: string, port: number, slot: number): Buffer {
  return Buffer.concat([ipv4Bytes(vip), u16Network(port), u16Host(slot)]);
}

/** struct sock_lb_service { __u32 count; __u32 id; } */
function encodeService(count: number, id: number): Buffer {
  return Buffer.concat([u32Host(count), u32Host(id)]);
}

/** struct sock_lb_backend { __u32 ip; __u16 port; __u16 pad; } */
function encodeBackend(ip: string, port: number): Buffer {
  return Buffer.concat([ipv4Bytes(ip), u16Network(port), Buffer.alloc(2)]);
}

function decodeKeyHex(keyHex: string): { servicePrefix: string; slot: number } {
  const bytes = Buffer.from(keyHex.replaceAll(' ', ''), 'hex');
  const slot = hostIsLittleEndian ? bytes.readUInt16LE(6) : bytes.readUInt16BE(6);
  return { servicePrefix: hex(bytes.subarray(0, 6)), slot };
}

function decodeServiceHex(valueHex: string): { count: number; id: number } {
  const bytes = Buffer.from(valueHex.replaceAll(' ', ''), 'hex');
  return { count: readU32Host(bytes, 0), id: readU32Host(bytes, 4) };
}

// ---- checks ----------------------------------------------------------------------------

function checkPath(path: string): void {
  // Paths go into bpftool batch lines, which split on whitespace.
  if (!path.startsWith('/') || /\s/.test(path)) throw new Error(`pin path must be absolute without whitespace: "${path}"`);
}

function validateServices(services: SockLbService[]): void {
  const problems: string[] = [];
  if (services.length > SOCK_LB_MAX_SERVICES) problems.push(`${services.length} services, at most ${SOCK_LB_MAX_SERVICES}`);
  const seen = new Set<string>();
  const checkEndpoint = (where: string, ip: string, port: number) => {
    if (!isIPv4(ip)) problems.push(`${where}: "${ip}" is not an IPv4 address`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`${where}: port ${port} is not 1–65535`);
  };
  services.forEach((service, i) => {
    checkEndpoint(`services[${i}]`, service.vip, service.port);
    const name = `${service.vip}:${service.port}`;
    if (seen.has(name)) problems.push(`services[${i}]: ${name} listed twice`);
    seen.add(name);
    if (service.backends.length > SOCK_LB_MAX_BACKENDS_PER_SERVICE) {
      problems.push(`services[${i}]: ${service.backends.length} backends, at most ${SOCK_LB_MAX_BACKENDS_PER_SERVICE}`);
    }
    service.backends.forEach((b, j) => checkEndpoint(`services[${i}].backends[${j}]`, b.ip, b.port));
  });
  if (problems.length > 0) throw new Error(`sock_lb services: ${problems.join('; ')}`);
}
