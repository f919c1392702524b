// The probe agent: runs inside the probe DaemonSet's container on a node (exec'd by the
// harness, one per cell) and speaks JSON lines on stdin/stdout:
//
//   → {"track":{"id":"server-1/server-app","containerId":"containerd://…"}}
//   ← {"ok":true,"cgroupDir":"/host/sys/fs/cgroup/…/cri-containerd-….scope"}
//   → {"cpu":true}     ← {"cpuUs":{"server-1/server-app":123456,…}}   (cgroup cpu.stat, any time)
//   → {"start":true}   ← {"ok":true}                                  (the probes' window begins)
//   → {"stop":true}    ← {"figures":{…ProbeFigures}}                  (and the agent exits)
//
// First line: {"ready":true,"probes":[…],"failed":{…}}. Errors: {"error":"…"}. CPU comes
// from the cgroups' own accounting, an independent check of the eBPF cpu probe. If the
// loader cannot start at all (kernel, capabilities), the agent still answers cpu and says
// why the probes failed. Stdin EOF (harness gone) ends the agent and with it the loader.
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startProbes } from '../../probes/session.ts';
import { PROBE_NAMES, type ProbeName, type ProbeSession } from '../../probes/types.ts';
import { CgroupFinder, cgroupCpuUsageUs, isCgroup2 } from './cgroups.ts';
import { PROBE_CGROUP_ROOT } from './manifests.ts';

export type AgentRequest =
  | { track: { id: string; containerId: string } }
  | { cpu: true }
  | { start: true }
  | { stop: true };

/** Parses one request line; throws with a message the agent sends back. */
export function parseAgentRequest(line: string): AgentRequest {
  const value = JSON.parse(line) as Record<string, unknown>;
  if (typeof value !== 'object' || value === null) throw new Error('a request is a JSON object');
  if ('track' in value) {
    const t = value.track as Record<string, unknown> | null;
    if (typeof t?.id !== 'string' || t.id === '' || /[\n\r]/.test(t.id) || typeof t.containerId !== 'string') {
      throw new Error('track needs {"id": string, "containerId": string}');
    }
    return { track: { id: t.id, containerId: t.containerId } };
  }
  if (value.cpu === true) return { cpu: true };
  if (value.start === true) return { start: true };
  if (value.stop === true) return { stop: true };
  throw new Error(`unknown request ${line.slice(0, 100)}`);
}

function parseArgs(argv: string[]): { probes: ProbeName[]; cgroupRoot: string; loaderPath?: string } {
  let probes: ProbeName[] = [...PROBE_NAMES];
  let cgroupRoot = PROBE_CGROUP_ROOT;
  let loaderPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--probes' && value !== undefined) {
      probes = value === '' ? [] : (value.split(',') as ProbeName[]);
      i++;
    } else if (argv[i] === '--cgroup-root' && value !== undefined) {
      cgroupRoot = value;
      i++;
    } else if (argv[i] === '--loader' && value !== undefined) {
      loaderPath = value;
      i++;
    }
  }
  return { probes, cgroupRoot, ...(loaderPath ? { loaderPath } : {}) };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const say = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
  if (!isCgroup2(args.cgroupRoot)) {
    say({ error: `${args.cgroupRoot} is not a cgroup v2 mount (meshbench needs the unified hierarchy on the nodes)`, fatal: true });
    process.exitCode = 1;
    return;
  }
  const finder = new CgroupFinder(args.cgroupRoot);
  const tracked = new Map<string, string>();
  let session: ProbeSession | undefined;
  const failed: Record<string, string> = {};
  if (args.probes.length > 0) {
    try {
      session = await startProbes({ probes: args.probes, ...(args.loaderPath ? { loaderPath: args.loaderPath } : {}) });
      Object.assign(failed, session.failed);
    } catch (error) {
      for (const p of args.probes) failed[p] = (error as Error).message;
    }
  }
  say({ ready: true, probes: session?.probes ?? [], failed });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      const request = parseAgentRequest(line);
      if ('track' in request) {
        const dir = finder.find(request.track.containerId);
        tracked.set(request.track.id, dir);
        await session?.track({ id: request.track.id, cgroupDir: dir });
        say({ ok: true, cgroupDir: dir });
      } else if ('cpu' in request) {
        const cpuUs: Record<string, number> = {};
        for (const [id, dir] of tracked) {
          try {
            cpuUs[id] = cgroupCpuUsageUs(dir);
          } catch {
            // the container is gone (e.g. the driver's pod finished): no figure rather than a wrong one
          }
        }
        say({ cpuUs });
      } else if ('start' in request) {
        await session?.start();
        say({ ok: true });
      } else {
        const figures = session ? await session.stop() : undefined;
        session = undefined;
        say({ figures: figures ?? null, failed });
        break;
      }
    } catch (error) {
      say({ error: (error as Error).message });
    }
  }
  await session?.kill();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
