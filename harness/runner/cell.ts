// One cell: bring the cluster up, install the mesh, start the apps, drive load from the
// client pod, collect the figures, tear everything down (also on failure or abort).
import { createMesh } from '../mesh/index.ts';
import type { Component, Mesh, MeshContext, Service } from '../mesh/types.ts';
import { LocalCluster, processCpuSeconds, type Pod, type ProcessDeath, type ProcessHandle } from '../platform/local/cluster.ts';
import { HostError } from '../errors.ts';
import { emptyLoadOutcome } from './cells.ts';
import { serviceVip } from '../platform/local/names.ts';
import type { StateFile } from '../platform/local/state.ts';
import { speaking } from '../proxy/protocol.ts';
import type { Proxy } from '../proxy/types.ts';
import { startProbes } from '../probes/index.ts';
import { bpfRunTime, frameworkCostOf, programIdsOf } from '../probes/cost.ts';
import type { ProbeFigures, ProbeSession } from '../probes/types.ts';
import { spreadWeights } from '../load/spread.ts';
import { measureIdle } from './idle.ts';
import { decomposeMeasured } from '../analysis/decomposition.ts';
import type { CellFailure, CellResult, ComponentResult, LoadOutcome, ProbeRunInfo } from '../results/types.ts';
import type { Cell, Scenario } from '../scenario/types.ts';
import { HTTP1_WORKLOAD, workloadFor, type ServerHop, type WorkloadKind } from './protocols.ts';
import { chainHops, chainOf, serverAppCounters } from './chain.ts';
import { wireCounters } from '../platform/local/nodes.ts';

export const SERVICE_PORT = 80;
export const APP_PORT = 8080;
/** Node processes the harness starts in pods run TypeScript through tsx (harness/tsx.ts). */
export { tsNodeArgv } from '../tsx.ts';

/**
 * Runs fn over items with at most `limit` at once (proxies and apps start in parallel,
 * bounded). After a failure no new item starts, and it rejects only once the items in
 * flight have settled, so a teardown that follows never races a process still starting.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  });
  await Promise.all(workers);
  if (failure) throw failure.error;
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
  /** The services the load driver calls: all of them, or with a chain the entry services (hop 1). */
  entryServices: Service[];
  /** The cell's protocol: its server apps, load driver and what the proxies speak. */
  workload: WorkloadKind;
}

/**
 * Which node a service of chain position `hop` runs on (the client runs on the first):
 * cross-node puts every callee on the other node than its caller's, so hop 1 is on the
 * second node, hop 2 on the first, and so on; otherwise (same-node, one node) the first.
 */
export function nodeOfHop(scenario: Pick<Scenario, 'topology'>, hop: number): number {
  return scenario.topology?.placement === 'cross-node' ? hop % 2 : 0;
}

export async function startServerApp(cluster: LocalCluster, pod: Pod, scenario: Scenario, workload: WorkloadKind = HTTP1_WORKLOAD, hop?: ServerHop): Promise<ProcessHandle> {
  const app = cluster.spawn(pod, 'server-app', workload.serverArgv(scenario, APP_PORT, hop), { cpus: 'pods' });
  await app.waitForLine((line) => line.includes('"ready"'), 30_000);
  return app;
}

/** Brings up a cell's cluster, mesh and apps (protocol http1 unless named). The caller must call cluster.down(). */
export async function bringUp(
  cell: Pick<Cell, 'mesh' | 'services'> & Partial<Pick<Cell, 'protocol' | 'security' | 'chain'>>,
  env: Omit<CellEnvironment, 'signal'>,
  cluster: LocalCluster,
  signal?: AbortSignal,
): Promise<LiveCell> {
  // A 100-pod bring-up takes a while: an abort (SIGINT) stops it between pods.
  const unlessAborted = <T,>(fn: (pod: Pod) => Promise<T>) => (pod: Pod): Promise<T> => {
    if (signal?.aborted) throw new Error('aborted');
    return fn(pod);
  };
  const workload = workloadFor(cell.protocol ?? 'http1');
  await cluster.up();
  // With a chain, services × chain server pods: service i calls service i + services (chain.ts).
  const hops = chainHops(cell.services, chainOf(cell));
  const [client, ...servers] = await cluster.addPods([
    { name: 'client-1', role: 'client' },
    ...hops.map((h) => ({ name: `server-${h.service}`, role: 'server' as const, node: nodeOfHop(env.scenario, h.hop) })),
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
  const ctx: MeshContext = { cluster, proxy: speaking(env.proxy, workload.proxyProtocol), services, security: cell.security ?? 'plaintext' };
  await mesh.install(ctx);
  await mapLimit([client!, ...servers], 8, unlessAborted((pod) => mesh.attach(ctx, pod)));
  const hopOf = (pod: Pod): ServerHop => {
    const upstream = hops[servers.indexOf(pod)]?.upstream;
    return upstream === undefined ? {} : { upstream: { host: services[upstream - 1]!.vip, port: SERVICE_PORT } };
  };
  const apps = await mapLimit(servers, 8, unlessAborted((pod) => startServerApp(cluster, pod, env.scenario, workload, hopOf(pod))));
  const entryServices = services.filter((_, i) => hops[i]!.hop === 1);
  return { cluster, mesh, services, client: client!, servers, apps, entryServices, workload };
}

export function appComponents(live: LiveCell): Component[] {
  return live.apps.map((app, i) => {
    const pod = live.servers[i]!;
    return { id: `${pod.name}/server-app`, role: 'server-app', pod: pod.name, pid: app.pid, cgroupV2: app.cgroupV2 };
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
  /** Every component watched in the cell, the load driver (client app) included. */
  components: Component[];
  /** Probe figures over the same window, when probes ran. */
  probeFigures?: ProbeFigures;
  probeCost?: NonNullable<ProbeRunInfo['cost']>;
  /** The probes failed mid-cell (their loader died): the load's figures are kept without theirs. */
  probeError?: Error;
}

function cpuDelta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [id, end] of after) {
    const start = before.get(id);
    if (start !== undefined) delta[id] = Number((end - start).toFixed(3));
  }
  return delta;
}

const weightsOf = (weights: number[] | undefined): { weights?: number[] } => (weights ? { weights } : {});

/**
 * Runs the load driver inside the client pod, pinned to the driver's CPU. The driver prints
 * `{"phase":"measure"}` when the warm-up ends, then the LoadOutcome as its last line; CPU of
 * the components is read from /proc, and the probes' window opened and closed, at those two
 * moments.
 */
export async function driveLoad(live: LiveCell, scenario: Scenario, signal?: AbortSignal, probes?: ProbeSession): Promise<DriverRun> {
  const spec = {
    targets: live.entryServices.map((s) => ({ host: s.vip, port: s.port, path: '/' })),
    model: scenario.load.model,
    rate: scenario.load.rate,
    connections: scenario.load.connections,
    durationMs: scenario.load.durationMs,
    warmupMs: scenario.load.warmupMs,
    ...weightsOf(spreadWeights(scenario.load, live.entryServices.length)),
  };
  const driver = live.cluster.spawn(live.client, 'load-driver', live.workload.driverArgv(spec, scenario), { cpus: 'driver' });
  const components: Component[] = [
    { id: `${live.client.name}/client-app`, role: 'client-app', pod: live.client.name, pid: driver.pid, cgroupV2: driver.cgroupV2 },
    ...live.mesh.components(),
    ...appComponents(live),
  ];
  const onAbort = (): void => void driver.stop();
  signal?.addEventListener('abort', onAbort, { once: true });
  // A probe loader that dies mid-cell costs the probes' figures, not the driver's latency.
  let probeError: Error | undefined;
  const probeStep = async <T,>(step: (session: ProbeSession) => Promise<T>): Promise<T | undefined> => {
    if (!probes || probeError) return undefined;
    try {
      return await step(probes);
    } catch (error) {
      probeError = error as Error;
      return undefined;
    }
  };
  try {
    await probeStep(async (session) => {
      for (const c of components) await session.track({ id: c.id, tgids: [c.pid], cgroupDir: c.cgroupV2, origin: c.role === 'client-app' });
      await session.attachCgroup(live.cluster.cgroupV2Root); // the packet hooks see the cell's sockets only
    });
    const programs = probes ? programIdsOf(probes.loaderPid) : [];
    const budgetMs = scenario.load.warmupMs + scenario.load.durationMs + 60_000;
    await driver.waitForLine((l) => l.includes('"phase":"measure"'), scenario.load.warmupMs + 30_000);
    await probeStep((session) => session.start());
    const before = cpuSnapshot(components);
    const loaderCpuBefore = probes ? processCpuSeconds(probes.loaderPid) ?? 0 : 0;
    const bpfBefore = await bpfRunTime(programs);
    const resultLine = await driver.waitForLine((l) => l.includes('"latencyUs"') || l.includes('"error"'), budgetMs);
    const after = cpuSnapshot(components);
    const bpfAfter = await bpfRunTime(programs);
    const loaderCpuAfter = probes ? processCpuSeconds(probes.loaderPid) ?? 0 : 0;
    const probeFigures = await probeStep((session) => session.stop());
    const parsed = JSON.parse(resultLine) as LoadOutcome | { error: string };
    if ('error' in parsed) throw new Error(`load driver failed: ${parsed.error}`);
    return {
      outcome: parsed,
      cpuSeconds: cpuDelta(before, after),
      components,
      probeFigures,
      ...(probeError ? { probeError } : {}),
      probeCost: probes && !probeError
        ? {
            bpfSeconds: Number(((bpfAfter.runTimeNs - bpfBefore.runTimeNs) / 1e9).toFixed(6)),
            bpfInvocations: bpfAfter.runCount - bpfBefore.runCount,
            loaderCpuSeconds: Number((loaderCpuAfter - loaderCpuBefore).toFixed(3)),
            ...frameworkCostOf(bpfAfter.runCount - bpfBefore.runCount),
          }
        : undefined,
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await driver.stop();
  }
}

/** Per component: its role and pod, plus what the probes measured for it. */
export function componentResults(components: Component[], figures?: ProbeFigures): Record<string, ComponentResult> {
  const results: Record<string, ComponentResult> = {};
  for (const c of components) {
    results[c.id] = { role: c.role, pod: c.pod, pids: [c.pid], ...(figures?.components[c.id] ?? {}) };
  }
  return results;
}

export async function runCell(cell: Cell, env: CellEnvironment): Promise<CellResult> {
  const startedAt = new Date().toISOString();
  const cluster = new LocalCluster(env.runId, env.state, env.scenario.topology?.nodes ?? 1);
  let failure: unknown;
  let probes: ProbeSession | undefined;
  try {
    if (env.signal.aborted) throw new Error('aborted');
    const live = await bringUp(cell, env, cluster, env.signal);
    if (env.signal.aborted) throw new Error('aborted');
    const notes: string[] = [];
    let probeInfo: ProbeRunInfo | undefined;
    if (env.scenario.probes.length > 0) {
      try {
        probes = await startProbes({ probes: env.scenario.probes });
        probeInfo = { ran: [...probes.probes], failed: { ...probes.failed } };
      } catch (err) {
        // The cell still measures; the result says which figures are missing and why.
        notes.push(`probes did not run: ${(err as Error).message}`);
        probeInfo = { ran: [], failed: Object.fromEntries(env.scenario.probes.map((p) => [p, (err as Error).message])) };
      }
    }
    const idle = env.scenario.idleMs
      ? await measureIdle([...live.mesh.components(), ...appComponents(live)], env.scenario.idleMs, probes, env.signal)
      : undefined;
    // A failure is data (issue 14): a component that dies mid-cell makes the cell `failed`,
    // with what died, how and its stderr tail, and keeps whatever was measured.
    let measured: DriverRun | undefined;
    let loadError: Error | undefined;
    try {
      measured = await driveLoad(live, env.scenario, env.signal, probes);
    } catch (error) {
      if (env.signal.aborted || error instanceof HostError) throw error;
      loadError = error as Error;
    }
    if (env.signal.aborted) throw new Error('aborted');
    let path: Record<string, number> = {};
    let pathError: Error | undefined;
    try {
      path = await live.mesh.pathCounters();
      // A chain's cells also count every hop at its server app (the baseline and ebpf-l4 proof).
      if (cell.chain !== undefined) Object.assign(path, await serverAppCounters(cluster, live.servers, live.services));
      // Two nodes: the wire's own counters (what crossed between the nodes).
      Object.assign(path, await wireCounters(cluster.runId, cluster.nodes));
    } catch (error) {
      pathError = error as Error;
    }
    const cellFailure = describeCellFailure(cluster.unexpectedExits(), { load: loadError, probes: measured?.probeError, path: pathError });
    if (measured?.outcome.saturated) notes.push('generator or system saturated: achieved rate below 95 % of the asked rate');
    for (const [probe, why] of Object.entries(probeInfo?.failed ?? {})) notes.push(`probe ${probe} did not run: ${why}`);
    if (cellFailure) {
      notes.unshift(`failed: ${cellFailure.message}${measured ? '; the load driver\'s figures are kept' : '; nothing was measured'}`);
      if (measured?.probeError && probeInfo) probeInfo = { ran: [], failed: Object.fromEntries(probeInfo.ran.map((p) => [p, measured!.probeError!.message])) };
    }
    return {
      ...cell,
      ...(cellFailure ? { status: 'failed' as const, failure: cellFailure } : {}),
      startedAt,
      finishedAt: new Date().toISOString(),
      load: measured?.outcome ?? emptyLoadOutcome(env.scenario),
      server: live.workload.server(env.scenario),
      path,
      cpuSeconds: measured?.cpuSeconds ?? {},
      ...(measured ? { components: componentResults(measured.components, measured.probeFigures) } : {}),
      ...(measured ? decomposeMeasured(measured, cluster.placement.podCpus) : {}),
      ...(probeInfo ? { probes: { ...probeInfo, ...(measured?.probeCost ? { cost: measured.probeCost } : {}) } } : {}),
      ...(idle ? { idle } : {}),
      notes,
    };
  } catch (err) {
    failure = err;
    // A failure before the load (a proxy that died starting): the cell is failed with what died.
    if (!env.signal.aborted && !(err instanceof HostError)) {
      const cellFailure = describeCellFailure(cluster.unexpectedExits(), { setUp: err as Error });
      if (cellFailure) Object.assign(err as object, { cellFailure });
    }
    throw err;
  } finally {
    await probes?.kill();
    try {
      await cluster.down();
    } catch (cleanupError) {
      // A cleanup failure must not hide the cell's own failure, nor pass silently.
      if (failure === undefined) throw cleanupError;
      process.stderr.write(`${(cleanupError as Error).message}\n`);
    }
  }
}

const STDERR_TAIL_CHARS = 1000;

function tailOf(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return trimmed.length > STDERR_TAIL_CHARS ? `…${trimmed.slice(-STDERR_TAIL_CHARS)}` : trimmed;
}

/** `SIGKILL` or `exit code 3`. */
function howItEnded(exit: { code: number | null; signal: string | null }): string {
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/**
 * What ended a cell early, from the processes that died (the first one is the cause; a
 * driver or client that failed after a proxy died is its consequence) and the errors of the
 * steps that failed; undefined when nothing did.
 */
export function describeCellFailure(
  deaths: readonly ProcessDeath[],
  errors: { setUp?: Error; load?: Error; probes?: Error; path?: Error },
): CellFailure | undefined {
  const died = [...deaths].sort((a, b) => a.atMs - b.atMs);
  const first = died[0];
  if (first) {
    const others = died.slice(1).map((d) => `${d.name} (${howItEnded(d)})`);
    const stderrTail = tailOf(first.stderrTail);
    return {
      message: `${first.name} (pid ${first.pid}) ${howItEnded(first)} mid-cell${others.length > 0 ? `; then ${others.join(', ')}` : ''}`,
      component: first.name,
      exit: { code: first.code, signal: first.signal },
      ...(stderrTail ? { stderrTail } : {}),
    };
  }
  if (errors.probes) {
    const signal = /killed by (SIG[A-Z0-9]+)/.exec(errors.probes.message)?.[1] ?? null;
    const code = /exited with code (\d+)/.exec(errors.probes.message)?.[1];
    return {
      message: errors.probes.message.split('\n')[0]!,
      component: 'probe-loader',
      ...(signal || code ? { exit: { code: code === undefined ? null : Number(code), signal } } : {}),
    };
  }
  const error = errors.setUp ?? errors.load ?? errors.path;
  if (!error) return undefined;
  return { message: error.message.split('\n')[0]!, ...(errors.load && !errors.setUp ? { component: 'load-driver' } : {}) };
}
