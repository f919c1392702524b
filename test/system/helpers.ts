// Shared pieces of the system tests: a scenario to run cells with, requests from inside a
// client pod (in its cgroup, so the eBPF socket LB sees them), a server stalled inside a
// driver's measured window, and the "nothing left" check.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster, Placement } from '../../harness/platform/local/cluster.ts';
import { findLeftovers } from '../../harness/platform/local/clean.ts';
import { newRunId } from '../../harness/platform/local/names.ts';
import { StateFile } from '../../harness/platform/local/state.ts';
import type { Scenario } from '../../harness/scenario/types.ts';

export function requireRoot(): void {
  // System tests never skip: without root they fail, saying why.
  assert.equal(process.getuid?.(), 0, 'system tests build namespaces, cgroups and eBPF programs: run them as root');
}

export function testScenario(overrides: Partial<Scenario> = {}, load: Partial<Scenario['load']> = {}, workload: Partial<Scenario['workload']> = {}): Scenario {
  return {
    name: 'system-test',
    platform: 'local',
    meshes: ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'],
    protocols: ['http1'],
    probes: ['dwell', 'runq', 'cpu', 'connect', 'memory'],
    services: [1],
    repeats: 1,
    ...overrides,
    workload: { responseBytes: 1024, delayUs: 0, ...workload },
    load: { model: 'open', rate: 200, connections: 4, durationMs: 3000, warmupMs: 1000, driver: 'autocannon', ...load },
  };
}

/**
 * A fresh run id and state file in a temp dir, as a run would have. Closing the state file
 * (every test does, once its cluster is down) removes the temp dir, unless the file still
 * names resources: then it stays as the record of what was left behind.
 */
export function testRun(): { runId: string; state: StateFile; dir: string } {
  const runId = newRunId();
  const dir = mkdtempSync(join(tmpdir(), `meshbench-test-${runId}-`));
  return { runId, state: new TestStateFile(join(dir, 'state.json'), runId, dir), dir };
}

class TestStateFile extends StateFile {
  constructor(path: string, runId: string, private readonly dir: string) {
    super(path, runId);
  }

  override close(): void {
    super.close();
    if (this.resources.length === 0) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The inodes of the established TCP connections with local port `port` in the network
 * namespace of process `pid` (its /proc/<pid>/net/tcp): on a server, those it accepted.
 */
export function acceptedConnections(port: number, pid: number | 'self' = 'self'): Set<string> {
  const inodes = new Set<string>();
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    // sl local_address rem_address st … inode; addresses as hex ip:port, st 01 = ESTABLISHED
    const fields = line.trim().split(/\s+/);
    if (fields.length > 9 && fields[3] === '01' && parseInt(fields[1]!.split(':')[1]!, 16) === port) inodes.add(fields[9]!);
  }
  return inodes;
}

/**
 * Runs `load` (a driver against `server`) and stops the server (SIGSTOP) for `stallMs`,
 * `atMs` into the measured window. The window is timed from the driver's first connection
 * to the server, which opens its warm-up of `warmupMs`, not from a guess of how long the
 * driver takes to start: so a short window still holds the whole stall.
 */
export async function withServerStall<T>(
  server: { pid: number; port: number },
  timing: { warmupMs: number; atMs: number; stallMs: number },
  load: () => Promise<T>,
): Promise<T> {
  const before = acceptedConnections(server.port, server.pid);
  const outcome = load();
  let ended = false;
  void outcome.then(() => (ended = true), () => (ended = true));
  try {
    const deadline = Date.now() + 30_000;
    while (![...acceptedConnections(server.port, server.pid)].some((inode) => !before.has(inode))) {
      if (ended) return await outcome; // done (or failed) without connecting: its outcome or error says why
      if (Date.now() > deadline) throw new Error(`no connection to port ${server.port} within 30 s of starting the load`);
      await sleep(20);
    }
    await sleep(timing.warmupMs + timing.atMs);
    process.kill(server.pid, 'SIGSTOP');
    await sleep(timing.stallMs);
  } finally {
    process.kill(server.pid, 'SIGCONT');
  }
  return outcome;
}

export interface ClientResponse {
  status: number;
  /** What getpeername() says the client talks to. */
  peer: string;
  bytes: number;
}

/**
 * Sends `count` sequential HTTP GETs from inside a pod (joined to its cgroup, as every pod
 * process is) and returns what the client saw. Bounded: 3 s per request.
 */
export async function requestsFromPod(cluster: LocalCluster, where: Placement, url: string, count: number): Promise<ClientResponse[]> {
  const script = `
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: false });
    (async () => {
      const out = [];
      for (let i = 0; i < ${count}; i++) {
        out.push(await new Promise((resolve, reject) => {
          const req = http.get(${JSON.stringify(url)}, { agent, timeout: 3000 }, (res) => {
            let bytes = 0;
            const peer = res.socket.remoteAddress + ':' + res.socket.remotePort;
            res.on('data', (d) => (bytes += d.length));
            res.on('end', () => resolve({ status: res.statusCode, peer, bytes }));
          });
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', reject);
        }));
      }
      console.log(JSON.stringify(out));
    })().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });`;
  const proc = cluster.spawn(where, 'test-client', [process.execPath, '-e', script], { cpus: 'driver' });
  const line = await proc.waitForLine((l) => l.startsWith('[') || l.startsWith('{'), 5000 + count * 3000);
  const parsed = JSON.parse(line) as ClientResponse[] | { error: string };
  if (!Array.isArray(parsed)) throw new Error(`client in ${where.name} failed: ${parsed.error}`);
  return parsed;
}

/**
 * After a test: `meshbench clean --dry-run` must find nothing of any run. Like clean, it
 * leaves alone a run whose owner is another live process (a user's run beside the suite);
 * a run owned by this test process counts even while it lives, so a test cannot hide a leak.
 */
export async function assertNothingLeft(): Promise<void> {
  const leftovers = (await findLeftovers()).filter((l) => !l.live || l.ownerPid === process.pid);
  assert.deepEqual(
    leftovers.map((l) => ({ run: l.runId, resources: l.resources })),
    [],
    'meshbench clean --dry-run finds resources left behind',
  );
}

/**
 * What one test produces for the tests after it (cells, a run directory): a later test that
 * reads it while the producer did not finish fails naming the producer ("no cells: the test
 * … above failed"), not with a TypeError or a count short by the cells never made.
 */
export class TestOutput<T> {
  readonly items: T[] = [];
  private complete = false;

  constructor(private readonly what: string, private readonly producer: string) {}

  /** Called by the producer as its last step. */
  done(): void {
    this.complete = true;
  }

  read(): T[] {
    if (!this.complete) assert.fail(`no ${this.what}: the test "${this.producer}" above failed, and this one reads its output`);
    return this.items;
  }
}
