// npm run bench:platform — how fast the local platform brings pods up and tears them down.
// For each size, a sidecar cell (the mesh with the most processes: a proxy in every pod plus
// a server app per service) is brought up exactly as a run does it (bringUp: namespaces,
// veths, cgroups, capture rules, proxies, apps) and torn down (cluster.down). Prints the
// wall-clock times next to the issue's targets, and the ratio time/target (≤ 1 meets it).
// Never a timed assertion: the figures depend on the host and on what else runs on it.
//   npm run bench:platform [-- --sizes 30,100 --mesh sidecar --rounds 1]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalCluster } from '../harness/platform/local/cluster.ts';
import { findLeftovers } from '../harness/platform/local/clean.ts';
import { newRunId } from '../harness/platform/local/names.ts';
import { StateFile } from '../harness/platform/local/state.ts';
import { Haproxy } from '../harness/proxy/haproxy.ts';
import { bringUp } from '../harness/runner/cell.ts';
import { MESH_NAMES, type MeshName, type Scenario } from '../harness/scenario/types.ts';

/** The issue's targets (issue 7): pods up and down, sidecar mesh, this 2-core host. */
const TARGETS_MS: Record<number, number> = { 30: 15_000, 100: 45_000 };

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '30,100' },
    mesh: { type: 'string', default: 'sidecar' },
    rounds: { type: 'string', default: '1' },
  },
});
const sizes = values.sizes!.split(',').map(Number);
const mesh = values.mesh as MeshName;
const rounds = Number(values.rounds);
if (!MESH_NAMES.includes(mesh)) throw new Error(`--mesh: one of ${MESH_NAMES.join(', ')}, got ${mesh}`);
if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 200)) throw new Error(`--sizes: integers 1–200, got ${values.sizes}`);

const scenario: Scenario = {
  name: 'bench-platform',
  platform: 'local',
  meshes: [mesh],
  protocols: ['http1'],
  services: sizes,
  repeats: 1,
  probes: [],
  workload: { responseBytes: 1024, delayUs: 0 },
  load: { model: 'open', rate: 100, connections: 1, durationMs: 1000, warmupMs: 0, driver: 'autocannon' },
};

interface Timing {
  services: number;
  pods: number;
  processes: number;
  upMs: number;
  downMs: number;
}

let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  process.stderr.write('\nSIGINT: tearing down…\n');
});

async function measure(services: number): Promise<Timing> {
  const runId = newRunId();
  const stateDir = mkdtempSync(join(tmpdir(), 'meshbench-bench-platform-'));
  const state = new StateFile(join(stateDir, 'state.json'), runId);
  const cluster = new LocalCluster(runId, state);
  const t0 = performance.now();
  let upMs = Number.NaN;
  let downMs = Number.NaN;
  let processes = 0;
  try {
    const live = await bringUp({ mesh, services }, { runId, state, proxy: new Haproxy(), scenario }, cluster);
    upMs = performance.now() - t0;
    processes = live.apps.length + live.mesh.components().length;
  } finally {
    const t1 = performance.now();
    await cluster.down();
    state.close();
    rmSync(stateDir, { recursive: true, force: true }); // torn down: nothing left for `clean` to find there
    downMs = performance.now() - t1;
  }
  return { services, pods: services + 1, processes, upMs, downMs };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:platform needs root (namespaces, cgroups, iptables)');
  const results: Timing[] = [];
  for (let round = 1; round <= rounds && !interrupted; round++) {
    for (const services of sizes) {
      if (interrupted) break;
      const t = await measure(services);
      results.push(t);
      process.stderr.write(
        `[${round}/${rounds}] ${mesh}, ${services} services (${t.pods} pods, ${t.processes} processes): up ${seconds(t.upMs)}, down ${seconds(t.downMs)}\n`,
      );
    }
  }
  console.log(`\nlocal platform, ${mesh} mesh: pods up and down (bringUp + cluster.down), wall clock`);
  console.log('services  pods  processes        up      down     total    target  total/target');
  for (const t of results) {
    const total = t.upMs + t.downMs;
    const target = TARGETS_MS[t.services];
    console.log(
      [
        String(t.services).padStart(8),
        String(t.pods).padStart(5),
        String(t.processes).padStart(10),
        seconds(t.upMs).padStart(9),
        seconds(t.downMs).padStart(9),
        seconds(total).padStart(9),
        (target === undefined || mesh !== 'sidecar' ? '—' : `≤ ${seconds(target)}`).padStart(9),
        (target === undefined || mesh !== 'sidecar' ? '—' : `${(total / target).toFixed(2)}`).padStart(13),
      ].join(' '),
    );
  }
  const left = await findLeftovers();
  const ours = left.filter((l) => !l.live);
  if (ours.length > 0) console.log(`\nleft behind: ${ours.map((l) => `${l.runId} (${l.resources.length} resources)`).join(', ')}`);
  if (interrupted) process.exitCode = 130;
}

await main();
