// What a kind/kubernetes run has created, written before each creation (as the local
// platform's state.json), so cleanup works from the file after a crash, and a marker in
// the temp dir that tells `meshbench clean` the run is still alive (its owner process).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../results/files.ts';
import { isSameProcess, processStartTime } from '../local/state.ts';

export const KUBE_STATE_FILE = 'kube-state.json';
export const LIVE_KUBE_RUNS_DIR = join(tmpdir(), 'meshbench-kube-runs');

export interface KubeRunState {
  runId: string;
  ownerPid: number;
  ownerStartTime: number;
  platform: 'kind' | 'kubernetes';
  /** kind clusters, registered before `kind create cluster` runs. */
  kindClusters: Array<{ name: string; kubeconfig: string }>;
  /** Namespaces on an existing cluster (platform kubernetes), registered before they are created. */
  namespaces: Array<{ context: string; name: string }>;
}

export class KubeStateFile {
  private readonly state: KubeRunState;
  private readonly marker: string;

  constructor(
    readonly path: string,
    runId: string,
    platform: 'kind' | 'kubernetes',
  ) {
    this.state = {
      runId,
      ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid) ?? 0,
      platform,
      kindClusters: [],
      namespaces: [],
    };
    mkdirSync(LIVE_KUBE_RUNS_DIR, { recursive: true });
    this.marker = join(LIVE_KUBE_RUNS_DIR, `${runId}.json`);
    this.write();
  }

  get current(): Readonly<KubeRunState> {
    return this.state;
  }

  addKindCluster(name: string, kubeconfig: string): void {
    this.state.kindClusters.push({ name, kubeconfig });
    this.write();
  }

  removeKindCluster(name: string): void {
    this.state.kindClusters = this.state.kindClusters.filter((c) => c.name !== name);
    this.write();
  }

  addNamespace(context: string, name: string): void {
    this.state.namespaces.push({ context, name });
    this.write();
  }

  removeNamespace(name: string): void {
    this.state.namespaces = this.state.namespaces.filter((n) => n.name !== name);
    this.write();
  }

  /** The run is over: the marker goes (the state file stays in the run directory as a record). */
  close(): void {
    rmSync(this.marker, { force: true });
  }

  private write(): void {
    const text = `${JSON.stringify(this.state, null, 2)}\n`;
    writeFileAtomic(this.path, text);
    writeFileAtomic(this.marker, text);
  }
}

/** Live kind/kubernetes runs on this host: run id → state, for those whose owner still runs. */
export function liveKubeRuns(): Map<string, KubeRunState> {
  const live = new Map<string, KubeRunState>();
  if (!existsSync(LIVE_KUBE_RUNS_DIR)) return live;
  for (const entry of readdirSync(LIVE_KUBE_RUNS_DIR)) {
    if (!entry.endsWith('.json')) continue;
    try {
      const state = JSON.parse(readFileSync(join(LIVE_KUBE_RUNS_DIR, entry), 'utf8')) as KubeRunState;
      if (isSameProcess(state.ownerPid, state.ownerStartTime)) live.set(state.runId, state);
    } catch {
      // a half-written or foreign file: not a live run
    }
  }
  return live;
}
