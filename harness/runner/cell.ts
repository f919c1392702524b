// One cell: bring the cluster up, install the mesh, start the apps, drive load from the
// client pod, collect the figures, tear everything down (also on failure or abort).
import { fileURLToPath } from 'node:url';
import { createMesh } from '../mesh/index.ts';
import type { Component, Mesh, MeshContext, Service } from '../mesh/types.ts';
import { LocalCluster, processCpuSeconds, type Pod, type ProcessHandle } from '../platform/local/cluster.ts';
import { serviceVip } from '../platform/local/names.ts';
import type { StateFile } from '../platform/local/state.ts';
import type { Proxy } from '../proxy/types.ts';
import type { CellResult, LoadOutcome } from '../results/types.ts';
import type { Cell, Scenario } from '../scenario/types.ts';

export const SERVICE_PORT = 80;
export const APP_PORT = 8080;
const TSX_LOADER = import.meta.resolve('tsx');
const SERVER_ENTRY = fileURLToPath(new URL('../workload/httpServer.ts', import.meta.url));
const DRIVER_ENTRY = fileURLToPath(new URL('../load/driverMain.ts', import.meta.url));

/** Node processes the harness starts in pods run TypeScript through tsx, resolved absolutely. */
export function tsNodeArgv(entry: string, args: string[]): string[] {
  return [process.execPath, '--import', TSX_LOADER, entry, ...args];
}

/** Runs fn over items with at most `limit` at once (proxies and apps start in parallel, bounded). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}

export interface CellEnvironment {
  runId: string;
  state: StateFile;
  proxy: Proxy;
  scenario: Scenario;
  /** Aborts the cell (SIGINT): the driver is stopped and the cell tears down. */
  signal: AbortSignal;
}

/** Everything a cell brought up, for tests that look inside before teardown. */
export interface LiveCell {
  cluster: LocalCluster;
  mesh: Mesh;
  services: Service[];
  client: Pod;
  servers: Pod[];
  apps: ProcessHandle[];
}

export async function startServerApp(cluster: LocalCluster, pod: Pod, scenario: Scenario): Promise<ProcessHandle> {
  const app = cluster.spawn(
    pod,
    'server-app',
    tsNodeArgv(SERVER_ENTRY, [
      '--host', '0.0.0.0',
      '--port', String(APP_PORT),
      '--response-bytes', String(scenario.workload.responseBytes),
      '--delay-us', String(scenario.workload.delayUs),
    ]),
    { cpus: 'pods' },
  );
  await app.waitForLine((line) => line.includes('"ready"'), 30_000);
  return app;
}

/** Brings up a cell's cluster, mesh and apps. The caller must call cluster.down(). */
export async function bringUp(cell: Pick<Cell, 'mesh' | 'services'>, env: Omit<CellEnvironment, 'signal'>, cluster: LocalCluster): Promise<LiveCell> {
  await cluster.up();
  const [client, ...servers] = await cluster.addPods([
    { name: 'client-1', role: 'client' },
    ...Array.from({ length: cell.services }, (_, i) => ({ name: `server-${i + 1}`, role: 'server' as const })),
  ]);
  const services: Service[] = servers.map((pod, i) => ({
    name: `s${i + 1}`,
    index: i + 1,
    vip: serviceVip(i + 1),
    port: SERVICE_PORT,
    targetPort: APP_PORT,
    endpoints: [pod],
  }));
  const mesh = createMesh(cell.mesh);
  const ctx: MeshContext = { cluster, proxy: env.proxy, services };
  await mesh.install(ctx);
  await mapLimit([client!, ...servers], 8, (pod) => mesh.attach(ctx, pod));
  const apps = await mapLimit(servers, 8, (pod) => startServerApp(cluster, pod, env.scenario));
  return { cluster, mesh, services, client: client!, servers, apps };
}

export function appComponents(live: LiveCell): Component[] {
  return live.apps.map((app, i) => {
    const pod = live.servers[i]!;
    return { id: `${pod.name}/server-app`, role: 'server-app', pod: pod.name, pid: app.pid, cgroupV2: pod.cgroupV2 };
  });
}

function cpuSnapshot(components: Component[]): Map<string, number> {
  const snapshot = new Map<string, number>();
  for (const c of components) {
    const seconds = processCpuSeconds(c.pid);
    if (seconds !== undefined) snapshot.set(c.id, seconds);
  }
  return snapshot;
}

export interface DriverRun {
  outcome: LoadOutcome;
  /** CPU seconds per component over the measured window (from /proc, after warm-up). */
  cpuSeconds: Record<string, number>;
}

/**
 * Runs the load driver inside the client pod, pinned to the driver's CPU. The driver prints
 * `{"phase":"measure"}` when the warm-up ends, then the LoadOutcome as its last line; CPU of
 * the components is read from /proc at those two moments.
 */
export async function driveLoad(live: LiveCell, scenario: Scenario, signal?: AbortSignal): Promise<DriverRun> {
  const spec = {
    targets: live.services.map((s) => ({ host: s.vip, port: s.port, path: '/' })),
    model: scenario.load.model,
    rate: scenario.load.rate,
    connections: scenario.load.connections,
    durationMs: scenario.load.durationMs,
    warmupMs: scenario.load.warmupMs,
  };
  const components = [...live.mesh.components(), ...appComponents(live)];
  const driver = live.cluster.spawn(live.client, 'load-driver', tsNodeArgv(DRIVER_ENTRY, [JSON.stringify(spec)]), { cpus: 'driver' });
  const onAbort = (): void => void driver.stop();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const budgetMs = scenario.load.warmupMs + scenario.load.durationMs + 60_000;
    await driver.waitForLine((l) => l.includes('"phase":"measure"'), scenario.load.warmupMs + 30_000);
    const before = cpuSnapshot(components);
    const resultLine = await driver.waitForLine((l) => l.includes('"latencyUs"') || l.includes('"error"'), budgetMs);
    const after = cpuSnapshot(components);
    const parsed = JSON.parse(resultLine) as LoadOutcome | { error: string };
    if ('error' in parsed) throw new Error(`load driver failed: ${parsed.error}`);
    const cpuSeconds: Record<string, number> = {};
    for (const [id, end] of after) {
      const start = before.get(id);
      if (start !== undefined) cpuSeconds[id] = Number((end - start).toFixed(3));
    }
    return { outcome: parsed, cpuSeconds };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await driver.stop();
  }
}

export async function runCell(cell: Cell, env: CellEnvironment): Promise<CellResult> {
  const startedAt = new Date().toISOString();
  const cluster = new LocalCluster(env.runId, env.state);
  let failure: unknown;
  try {
    if (env.signal.aborted) throw new Error('aborted');
    const live = await bringUp(cell, env, cluster);
    if (env.signal.aborted) throw new Error('aborted');
    const { outcome, cpuSeconds } = await driveLoad(live, env.scenario, env.signal);
    if (env.signal.aborted) throw new Error('aborted');
    const notes: string[] = [];
    if (outcome.saturated) notes.push('generator or system saturated: achieved rate below 95 % of the asked rate');
    return {
      ...cell,
      startedAt,
      finishedAt: new Date().toISOString(),
      load: outcome,
      path: await live.mesh.pathCounters(),
      cpuSeconds,
      notes,
    };
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    try {
      await cluster.down();
    } catch (cleanupError) {
      // A cleanup failure must not hide the cell's own failure, nor pass silently.
      if (failure === undefined) throw cleanupError;
      process.stderr.write(`${(cleanupError as Error).message}\n`);
    }
  }
}
