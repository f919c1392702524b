// The run's registry of host resources. Each resource is written to state.json *before* it
// is created, so cleanup works from the file even after SIGKILL; it is removed from the
// file once it is gone. Cleanup walks the list in reverse order of creation.
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { asFileSystemError, HostError } from '../../errors.ts';
import { writeFileAtomic } from '../../results/files.ts';
import { LIVE_RUNS_DIR } from './names.ts';

export type Resource =
  | { kind: 'netns'; name: string }
  | { kind: 'cgroup'; path: string }
  | { kind: 'bpf-pin'; path: string }
  | { kind: 'dir'; path: string }
  | { kind: 'bpf-attach'; pinDir: string; cgroupDir: string }
  | { kind: 'process'; pid: number; startTime: number; name: string };

export interface RunState {
  runId: string;
  ownerPid: number;
  ownerStartTime: number;
  resources: Resource[];
}

export function resourceKey(r: Resource): string {
  switch (r.kind) {
    case 'netns': return `netns:${r.name}`;
    case 'cgroup': return `cgroup:${r.path}`;
    case 'bpf-pin': return `bpf-pin:${r.path}`;
    case 'dir': return `dir:${r.path}`;
    case 'bpf-attach': return `bpf-attach:${r.pinDir}@${r.cgroupDir}`;
    case 'process': return `process:${r.pid}:${r.startTime}`;
  }
}

/** Process start time in clock ticks since boot (/proc/PID/stat field 22); undefined if gone. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Whether the process that was recorded is still the same live process (pids get reused). */
export function isSameProcess(pid: number, startTime: number): boolean {
  return processStartTime(pid) === startTime;
}

export class StateFile {
  private state: RunState;

  constructor(
    readonly path: string,
    runId: string,
  ) {
    this.state = {
      runId,
      ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid) ?? 0,
      resources: [],
    };
    mkdirSync(dirname(path), { recursive: true });
    this.flush();
    // A pointer in /run lets `clean` find this run's state and see that its owner is alive.
    mkdirSync(LIVE_RUNS_DIR, { recursive: true });
    writeFileSync(join(LIVE_RUNS_DIR, `${runId}.state`), resolve(path));
  }

  get runId(): string {
    return this.state.runId;
  }

  get resources(): readonly Resource[] {
    return this.state.resources;
  }

  /**
   * Records a resource before it is created. When the file cannot be written (a full disk)
   * it throws and the resource is not recorded, so the caller must not create it: nothing
   * exists that the file does not name.
   */
  register(resource: Resource): void {
    this.registerMany([resource]);
  }

  release(resource: Resource): void {
    this.releaseMany([resource]);
  }

  /** register() for many resources with one write of the file (100 pods: 400+ resources). */
  registerMany(resources: readonly Resource[]): void {
    const before = this.state.resources;
    const keys = new Set(before.map(resourceKey));
    const added: Resource[] = [];
    for (const resource of resources) {
      const key = resourceKey(resource);
      if (!keys.has(key)) {
        keys.add(key);
        added.push(resource);
      }
    }
    if (added.length === 0) return;
    this.state.resources = [...before, ...added];
    try {
      this.flush();
    } catch (error) {
      this.state.resources = before;
      throw error;
    }
  }

  /**
   * release() for many resources with one write of the file. The resources are gone either
   * way: a file that cannot be written then only names a few too many, which `clean` checks
   * before it removes anything, so a failed write is kept for `flushError` and not thrown
   * (a teardown must go on).
   */
  releaseMany(resources: readonly Resource[]): void {
    const keys = new Set(resources.map(resourceKey));
    this.state.resources = this.state.resources.filter((r) => !keys.has(resourceKey(r)));
    this.flushQuietly();
  }

  /** The last write of the file that failed while releasing, if any. */
  flushError: unknown;

  /** Called once everything is gone: the state file stays as a record, the live pointer goes. */
  close(): void {
    this.flushQuietly();
    rmSync(join(LIVE_RUNS_DIR, `${this.state.runId}.state`), { force: true });
  }

  private flushQuietly(): void {
    try {
      this.flush();
      this.flushError = undefined;
    } catch (error) {
      this.flushError = error;
    }
  }

  /** Atomic (temp file + rename; the temp file removed on failure); a full disk is a HostError naming the file. */
  private flush(): void {
    try {
      writeFileAtomic(this.path, JSON.stringify(this.state, null, 2));
    } catch (error) {
      const typed = asFileSystemError(error, this.path);
      throw typed instanceof HostError ? new HostError(`cannot record the run's resources: ${typed.message}`) : typed;
    }
  }
}

export function readState(path: string): RunState | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunState;
  } catch {
    return undefined;
  }
}

/** State file path of a run that is (or was) live on this host, from its /run pointer. */
export function liveStatePath(runId: string): string | undefined {
  try {
    return readFileSync(join(LIVE_RUNS_DIR, `${runId}.state`), 'utf8').trim();
  } catch {
    return undefined;
  }
}
