// The local platform: a one-host "cluster" made of network namespaces.
//
//   node netns  mb-<run>-node : ip_forward, the node address 198.18.0.1 on lo, one /32 route per pod
//   pod netns   mb-<run>-<pod>: eth0 198.18.x.y/32, routes to 198.18/16 and 198.19/16 via 169.254.1.1
//               (an address the node holds on its lo, so the node answers the pods' ARP for it)
//
// Pods are L3-routed /32 veths (as Calico does): every packet between two pods, and every
// reply from a backend, passes through the node netns, so a VIP DNATed there is un-NATed by
// the node's conntrack on the way back. Nothing is added to the host's root namespace: the
// veths live in the node and pod namespaces and go with them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, existsSync, readFileSync, rmdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from '../../exec.ts';
import { HostError } from '../../errors.ts';
import {
  BPFFS_ROOT, CGROUP_V1_MEMORY_ROOT, CGROUP_V2_ROOT, NODE_IP, POD_GATEWAY, POD_CIDR, SERVICE_CIDR, cgroupV1MemoryDir, cgroupV2Dir, netnsName,
  nodeNetns, podIp, vethName,
} from './names.ts';
import { LIVE_RUNS_DIR } from './names.ts';
import { StateFile, processStartTime, type Resource } from './state.ts';
import { killProcessGroup, removeResource } from './teardown.ts';
import { removeNetnsMany } from './bulkTeardown.ts';
import { joinNodes, nodeHosts, podCgroupV2, remotePodRoutes, type NodeHost } from './nodes.ts';

export type { NodeHost } from './nodes.ts';

/** waypoint: a mesh's own per-service proxy pod (the waypoint mesh). */
export type PodRole = 'client' | 'server' | 'waypoint';

export interface PodSpec {
  name: string;
  role: PodRole;
  /** The node it runs on, 0-based (absent: the first). */
  node?: number;
}

export interface Pod extends Omit<PodSpec, 'node'> {
  /** The node it runs on (absent in pods made outside a cluster: the first). */
  node?: NodeHost;
  index: number;
  ip: string;
  netns: string;
  cgroupV2: string;
  cgroupV1Memory: string;
}

export type Placement = Pod | NodeHost;

export interface SpawnOptions {
  /** Run as this uid/gid (e.g. a sidecar proxy as 1337, excluded from capture). */
  uid?: number;
  /** Which CPU set: the load driver's own CPUs, or the system under test's. */
  cpus: 'driver' | 'pods';
  env?: Record<string, string>;
}

export interface ProcessHandle {
  readonly name: string;
  readonly pid: number;
  readonly placement: Placement;
  /** Its own cgroup v2 directory, `<pod cgroup>/<name>`: one per container, as Kubernetes does. */
  readonly cgroupV2: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line the predicate accepts; rejects on exit or timeout. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** Everything the process wrote to stderr so far (bounded), for error messages. */
  stderrTail(): string;
  stop(): Promise<void>;
}

/** A process of a cell that ended while the cell still needed it (not stopped by the harness). */
export interface ProcessDeath {
  /** `pod/name`, e.g. `server-1/sidecar`. */
  name: string;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string;
  atMs: number;
}

export interface CpuPlacement {
  driverCpus: string;
  podCpus: string;
}

export function cpuPlacement(): CpuPlacement {
  const cpus = availableParallelism();
  if (cpus < 2) return { driverCpus: '0', podCpus: '0' };
  // The load driver gets CPU 0; apps and proxies share the rest, so the driver's own cost
  // is never reported as the proxies'.
  return { driverCpus: '0', podCpus: cpus === 2 ? '1' : `1-${cpus - 1}` };
}

export class LocalCluster {
  /** The first node (the only one unless the cluster was made with two). */
  readonly node: NodeHost;
  /** Every node: one, or two joined by a wire (nodes.ts). */
  readonly nodes: NodeHost[];
  readonly pods = new Map<string, Pod>();
  readonly placement = cpuPlacement();
  private readonly processes = new Set<ProcessHandle>();
  private readonly deaths: Array<{ handle: ProcessHandle; name: string; code: number | null; signal: NodeJS.Signals | null; atMs: number }> = [];
  private nextPodIndex = 0;

  constructor(
    readonly runId: string,
    readonly state: StateFile,
    nodeCount = 1,
  ) {
    this.nodes = nodeHosts(runId, nodeCount);
    this.node = this.nodes[0]!;
  }

  /** The run's cgroup v2 directory: eBPF socket programs attached here see exactly the run's pods. */
  /** A run-owned directory for a proxy's files under /run (unix socket paths are limited to 108 bytes), registered for cleanup. */
  proxyDir(id: string): string {
    const runDir = join(LIVE_RUNS_DIR, this.runId);
    this.state.register({ kind: 'dir', path: runDir });
    const dir = join(runDir, id);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  get cgroupV2Root(): string {
    return cgroupV2Dir(this.runId);
  }

  private track(resource: Resource): void {
    this.state.register(resource);
  }

  private makeCgroup(path: string): void {
    this.track({ kind: 'cgroup', path });
    mkdirSync(path, { recursive: true });
  }

  async up(): Promise<NodeHost> {
    for (const path of ['/sys/fs/cgroup/unified/cgroup.procs', '/sys/fs/cgroup/memory/cgroup.procs']) {
      if (!existsSync(path)) throw new HostError(`${path} is missing: the local platform needs cgroup v2 at /sys/fs/cgroup/unified and the v1 memory controller`);
    }
    this.makeCgroup(cgroupV2Dir(this.runId));
    this.makeCgroup(cgroupV1MemoryDir(this.runId));
    for (const node of this.nodes) {
      this.makeCgroup(node.cgroupV2);
      this.makeCgroup(node.cgroupV1Memory);
      if (node.podsCgroupV2 !== cgroupV2Dir(this.runId)) this.makeCgroup(node.podsCgroupV2);
      this.track({ kind: 'netns', name: node.netns });
      await run('ip', ['netns', 'add', node.netns]);
      await run('ip', ['-n', node.netns, '-batch', '-'], {
        // The pods' next hop is a node address too, so the node answers their ARP for it.
        input: ['link set lo up', `addr add ${node.ip}/32 dev lo`, `addr add ${POD_GATEWAY}/32 dev lo`].join('\n') + '\n',
      });
      await this.sysctl(node.netns, {
        'net/ipv4/ip_forward': '1',
        'net/ipv4/conf/all/rp_filter': '0',
        'net/ipv4/conf/default/rp_filter': '0',
      });
    }
    if (this.nodes.length > 1) await joinNodes(this.runId, this.nodes);
    return this.node;
  }

  /** Creates pods in one batch per step: namespaces, veth pairs, addresses, routes, cgroups. */
  async addPods(specs: PodSpec[]): Promise<Pod[]> {
    const pods: Pod[] = specs.map((spec) => {
      if (this.pods.has(spec.name)) throw new Error(`pod ${spec.name} exists already`);
      const index = this.nextPodIndex++;
      const node = this.nodes[spec.node ?? 0];
      if (!node) throw new Error(`pod ${spec.name}: no node ${spec.node} (the cluster has ${this.nodes.length})`);
      return {
        ...spec,
        node,
        index,
        ip: podIp(index),
        netns: netnsName(this.runId, spec.name),
        cgroupV2: podCgroupV2(node, spec.name),
        cgroupV1Memory: cgroupV1MemoryDir(this.runId, spec.name),
      };
    });
    // Registered in one write of state.json (a 100-pod cell registers 300 resources here).
    this.state.registerMany(
      pods.flatMap((pod): Resource[] => [
        { kind: 'cgroup', path: pod.cgroupV2 },
        { kind: 'cgroup', path: pod.cgroupV1Memory },
        { kind: 'netns', name: pod.netns },
      ]),
    );
    for (const pod of pods) {
      this.pods.set(pod.name, pod);
      mkdirSync(pod.cgroupV2, { recursive: true });
      mkdirSync(pod.cgroupV1Memory, { recursive: true });
    }
    await run('ip', ['-batch', '-'], { input: pods.map((p) => `netns add ${p.netns}`).join('\n') + '\n' });
    // Node side: one veth per pod on its node, its peer moved straight into the pod netns as
    // eth0; the other node routes the pod's /32 over the wire to this one.
    for (const node of this.nodes) {
      const nodeCommands: string[] = [];
      for (const pod of pods.filter((p) => (p.node?.index ?? 0) === node.index)) {
        const veth = vethName(this.runId, pod.index);
        nodeCommands.push(
          `link add ${veth} type veth peer name eth0 netns ${pod.netns}`,
          `link set ${veth} up`,
          `route add ${pod.ip}/32 dev ${veth} scope link`,
        );
      }
      nodeCommands.push(...remotePodRoutes(this.runId, node, pods.map((p) => ({ ip: p.ip, node: p.node ?? this.node }))));
      if (nodeCommands.length > 0) await run('ip', ['-n', node.netns, '-batch', '-'], { input: nodeCommands.join('\n') + '\n' });
    }
    // Pod side: the /32 address and routes to pods and VIPs only — no default route, so
    // nothing in a pod can reach any address outside the benchmark's ranges.
    await eachLimit(pods, 16, (pod) =>
      run('ip', ['-n', pod.netns, '-batch', '-'], {
        input: [
          'link set lo up',
          `addr add ${pod.ip}/32 dev eth0`,
          'link set eth0 up',
          `route add ${POD_GATEWAY} dev eth0 scope link`,
          `route add ${POD_CIDR} via ${POD_GATEWAY} dev eth0 src ${pod.ip}`,
          `route add ${SERVICE_CIDR} via ${POD_GATEWAY} dev eth0 src ${pod.ip}`,
        ].join('\n') + '\n',
      }),
    );
    return pods;
  }

  /** Writes sysctls inside a netns with one process (`ip netns exec` remounts /proc/sys for it). */
  async sysctl(netns: string, values: Record<string, string>): Promise<void> {
    const script = Object.entries(values)
      .map(([key, value]) => `echo ${value} > /proc/sys/${key}`)
      .join(' && ');
    if (script) await run('sh', ['-ec', script], { netns });
  }

  /** Runs a command inside a pod's or the node's netns. */
  exec(where: Placement, cmd: string, args: readonly string[], input?: string): Promise<RunResult> {
    return run(cmd, args, { netns: where.netns, input });
  }

  /** Loads iptables rules into a netns atomically (`iptables-restore --noflush`). */
  async iptablesRestore(where: Placement, rules: string): Promise<void> {
    await run('iptables-restore', ['--noflush'], { netns: where.netns, input: rules });
  }

  /**
   * Starts a process inside a pod: it joins the pod's cgroups first, then enters the netns,
   * pinned to the driver's or the pods' CPUs. It leads its own process group so stop()
   * takes its children too, and it is registered in state.json as soon as it has a pid.
   */
  spawn(where: Placement, name: string, argv: readonly string[], options: SpawnOptions): ProcessHandle {
    const cpus = options.cpus === 'driver' ? this.placement.driverCpus : this.placement.podCpus;
    // Each process its own v2 cgroup under its pod's (sidecar and app apart, as Kubernetes puts
    // each container in its own): the probes' packet hooks tell components apart by it. The
    // pod's registered cgroup is removed as a tree, so these need no entry of their own.
    const ownCgroup = `${where.cgroupV2}/${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
    mkdirSync(ownCgroup, { recursive: true });
    const userPrefix = options.uid === undefined
      ? []
      : ['setpriv', `--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups'];
    const wrapper = [
      'sh', '-c',
      'cg2=$1; cg1=$2; shift 2; echo $$ > "$cg2/cgroup.procs" && echo $$ > "$cg1/cgroup.procs" && exec "$@"',
      'sh', ownCgroup, where.cgroupV1Memory,
      'taskset', '-c', cpus, 'ip', 'netns', 'exec', where.netns, ...userPrefix, ...argv,
    ];
    const child = spawn(wrapper[0], wrapper.slice(1), {
      detached: true,
      // From /, as a container starts in its image's workdir: never the harness's cwd, which a
      // process under another uid may not enter (a clone in a 0700 `mktemp -d`: HAProxy as
      // 1337 refuses its config when it cannot chdir back to it).
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    if (child.pid === undefined) throw new Error(`could not start ${name}: ${argv.join(' ')}`);
    const resource: Resource = {
      kind: 'process',
      pid: child.pid,
      startTime: processStartTime(child.pid) ?? 0,
      name: `${where.name}/${name}`,
    };
    this.track(resource);
    const handle = new ChildHandle(name, child, where, ownCgroup, () => this.state.release(resource));
    this.processes.add(handle);
    void handle.exited.then(({ code, signal }) => {
      this.processes.delete(handle);
      if (!handle.stopping && (signal !== null || code !== 0)) this.deaths.push({ handle, name: `${where.name}/${name}`, code, signal, atMs: Date.now() });
    });
    return handle;
  }

  /** Processes that died on their own (a signal or a non-zero exit) before the harness stopped them: a failure is data. */
  unexpectedExits(): ProcessDeath[] {
    return this.deaths.map(({ handle, name, code, signal, atMs }) => ({ name, pid: handle.pid, code, signal, stderrTail: handle.stderrTail(), atMs }));
  }

  /** Waits until something listens on ip:port inside a netns. */
  async waitForListen(where: Placement, ip: string, port: number, timeoutMs = 10_000, owner?: ProcessHandle): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void owner?.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) {
        throw new Error(`${owner?.name} in ${where.name} exited before listening on ${ip}:${port}: ${owner?.stderrTail()}`);
      }
      const r = await run('ss', ['-Hltn', `sport = :${port}`], { netns: where.netns });
      if (r.stdout.includes(`${ip}:${port}`) || r.stdout.includes(`0.0.0.0:${port}`) || r.stdout.includes(`*:${port}`)) return;
      await sleep(25);
    }
    throw new Error(`nothing listens on ${ip}:${port} in ${where.name} after ${timeoutMs} ms`);
  }

  /** Tears down everything this run registered, in reverse order of creation. */
  async down(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.stop()));
    const errors: string[] = [];
    // Namespaces in one batch (what is left of them goes one by one below, with its error).
    const namespaces = this.state.resources.filter((r): r is Extract<Resource, { kind: 'netns' }> => r.kind === 'netns');
    if (namespaces.length > 1) {
      const gone = new Set(await removeNetnsMany(namespaces.map((r) => r.name)));
      this.state.releaseMany(namespaces.filter((r) => gone.has(r.name)));
    }
    for (const resource of [...this.state.resources].reverse()) {
      try {
        await removeResource(resource);
        this.state.release(resource);
      } catch (err) {
        errors.push(String((err as Error).message ?? err));
      }
    }
    // The shared parents (meshbench/ under cgroup v2, v1 memory and bpffs) go with the last run.
    for (const root of [CGROUP_V2_ROOT, CGROUP_V1_MEMORY_ROOT, BPFFS_ROOT]) {
      try {
        rmdirSync(root);
      } catch {
        /* another run still uses it, or it is already gone */
      }
    }
    if (errors.length > 0) throw new Error(`cleanup of run ${this.runId} left problems:\n${errors.join('\n')}`);
  }
}

/** Runs fn over items, at most `limit` at once. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const STDERR_TAIL_BYTES = 4096;

class ChildHandle implements ProcessHandle {
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly lines: string[] = [];
  private readonly lineWaiters = new Set<(line: string) => void>();
  private stderrBuffer = '';
  private hasExited = false;
  /** Set once the harness stops it: its end is then no death. */
  stopping = false;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly placement: Placement,
    readonly cgroupV2: string,
    onExit: () => void,
  ) {
    this.pid = child.pid!;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (this.lines.length < 1000) this.lines.push(line);
      for (const waiter of this.lineWaiters) waiter(line);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrBuffer = (this.stderrBuffer + chunk.toString()).slice(-STDERR_TAIL_BYTES);
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.hasExited = true;
        onExit();
        resolve({ code, signal });
      });
    });
  }

  stderrTail(): string {
    return this.stderrBuffer.trim();
  }

  waitForLine(predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.lines.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lineWaiters.delete(waiter);
        reject(new Error(`${this.name} in ${this.placement.name}: no ready line after ${timeoutMs} ms. ${this.stderrTail()}`));
      }, timeoutMs);
      const waiter = (line: string): void => {
        if (!predicate(line)) return;
        clearTimeout(timer);
        this.lineWaiters.delete(waiter);
        resolve(line);
      };
      this.lineWaiters.add(waiter);
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (this.lineWaiters.delete(waiter)) {
          reject(new Error(`${this.name} in ${this.placement.name} exited (${code ?? signal}) before it was ready: ${this.stderrTail()}`));
        }
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (!this.hasExited) await killProcessGroup(this.pid);
    await Promise.race([this.exited, sleep(3000)]);
  }
}

/** utime+stime of a process in seconds, from /proc/PID/stat (an independent source for CPU). */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = 100; // USER_HZ is 100 on Linux for every architecture /proc reports in
