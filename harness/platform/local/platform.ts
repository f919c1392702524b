// The local platform as a Platform: a one-host cluster of network namespaces per cell.
// Provisioning turns on the kernel's BPF run-time accounting (the probes' own cost) and
// opens the run's state.json; each cell builds its cluster from nothing and tears it down
// (harness/runner/cell.ts); teardown restores the sysctl and closes the state file.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { HostError } from '../../errors.ts';
import { enableBpfStats } from '../../probes/cost.ts';
import { Haproxy } from '../../proxy/haproxy.ts';
import type { Proxy } from '../../proxy/types.ts';
import { STATE_FILE } from '../../results/files.ts';
import { runCell } from '../../runner/cell.ts';
import { notRunCell, whyNotLocally } from '../../mesh/needs.ts';
import type { Platform, PlatformFacts, ProvisionedPlatform, RunContext } from '../types.ts';
import { cpuPlacement } from './cluster.ts';
import { StateFile } from './state.ts';

export class LocalPlatform implements Platform {
  readonly name = 'local' as const;

  /** The proxy every sidecar and node proxy of the run is (HAProxy unless a test gives another). */
  constructor(private readonly proxy: Proxy = new Haproxy()) {}

  /** Root is needed for namespaces, iptables, cgroups and eBPF: said before anything is created. */
  static check(): void {
    if (process.getuid?.() !== 0) {
      throw new HostError('meshbench needs root to build network namespaces, iptables rules, cgroups and eBPF programs: run it as root (e.g. sudo).');
    }
  }

  async facts(): Promise<PlatformFacts> {
    const notes = availableParallelism() < 2
      ? ['only one CPU: the load driver shares it with the system under test, so its cost is mixed into every figure']
      : [];
    return { proxy: { name: this.proxy.name, version: await this.proxy.version() }, placement: cpuPlacement(), tools: {}, notes };
  }

  async provision(run: RunContext): Promise<ProvisionedPlatform> {
    const facts = await this.facts();
    const state = new StateFile(join(run.runDir, STATE_FILE), run.runId);
    // The kernel's BPF run-time accounting gives each cell the probes' own CPU cost.
    const restoreBpfStats = run.scenario.probes.length > 0 ? enableBpfStats() : () => {};
    const env = { runId: run.runId, state, proxy: this.proxy, scenario: run.scenario, signal: run.signal };
    return {
      facts,
      // A mesh that lacks what its security mode needs here is recorded as not run, with the reason.
      runCell: async (cell) => {
        const why = await whyNotLocally(cell.mesh, cell.security ?? 'plaintext');
        return why ? notRunCell(cell, why.reason, run.scenario, why.detail) : runCell(cell, env);
      },
      teardown: async () => {
        restoreBpfStats();
        state.close();
        return [];
      },
    };
  }
}
