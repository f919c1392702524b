// The probe session: one loader process (bpf/build/loader) driven over stdin/stdout.
// The loader runs in its own process group and is killed and reaped on stop, on error and
// when this process exits; if this process dies without running its exit hooks
// (SIGKILL), the loader sees stdin EOF and exits on its own. Nothing is pinned, so a dead
// loader leaves no programs behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HostError, InputError } from '../errors.ts';
import {
  asProbeNames, isError, isReady, isSnapshot, parseLoaderLine, toProbeFigures, type LoaderLine, type ReadyLine,
} from './protocol.ts';
import { Accounting } from './accounting.ts';
import type { ProbeFigures, ProbeName, ProbeOptions, ProbeSession, TrackedComponent } from './types.ts';

/** Probes the harness serves from the kernel's own accounting, with no BPF program (accounting.ts). */
export const ACCOUNTING_PROBES: readonly ProbeName[] = ['cpu', 'runq'];

export const DEFAULT_LOADER_PATH = fileURLToPath(new URL('../../bpf/build/loader', import.meta.url));
const DEFAULT_MEM_INTERVAL_MS = 200;
const DEFAULT_MAX_COMPONENTS = 512;
/**
 * The dwell probe's sampling (loader --sample-every): its hooks attached for 1/N of every
 * second. npm run bench:probes measured throughput on/off 0.671 with every message timed and,
 * with 1 in 10, 0.999 and 0.977 (ratios of medians over 5 pairs), then 1.002 (the median of 8
 * pairs' ratios, after the in-flight table became an array) (README: "Probe overhead"); a 10 s
 * cell at 300 req/s still times ~300 requests per part.
 */
export const DEFAULT_SAMPLE_EVERY = 10;

const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 60_000;
const EXIT_GRACE_MS = 5_000;
const STDERR_KEEP_BYTES = 8192;

const EXIT_LINE = /^\{"exit":/;

/**
 * The sampling a run uses: MESHBENCH_PROBES_SAMPLE_EVERY (an integer 1..1000; 1 times every
 * message, as the decomposition test does to compare means over the same requests as the
 * driver's) or DEFAULT_SAMPLE_EVERY. A bad value is refused, never ignored.
 */
export function sampleEveryFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MESHBENCH_PROBES_SAMPLE_EVERY;
  if (raw === undefined || raw === '') return DEFAULT_SAMPLE_EVERY;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new InputError('MESHBENCH_PROBES_SAMPLE_EVERY', [{ path: 'MESHBENCH_PROBES_SAMPLE_EVERY', message: `expected an integer 1..1000, got "${raw}"` }]);
  }
  return n;
}

/**
 * Why the loader ended, from the JSON line it writes last on stderr (bpf/loader.c):
 * "stdin closed", "stop", "SIGTERM from pid 123 (cmd …)"; undefined if it wrote none.
 */
export function exitReason(stderr: string): string | undefined {
  const line = stderr.trim().split('\n').reverse().find((l) => EXIT_LINE.test(l));
  if (!line) return undefined;
  try {
    const exit = JSON.parse(line) as { exit: string; signal?: string; senderPid?: number; sender?: string };
    if (exit.exit !== 'signal') return exit.exit;
    const sender = exit.senderPid ? ` from pid ${exit.senderPid}${exit.sender ? ` (${exit.sender.trim()})` : ''}` : ' from the kernel';
    return `${exit.signal ?? 'a signal'}${sender}`;
  } catch {
    return line;
  }
}

/** A command the loader refused, or a loader that died. */
export class ProbeError extends Error {
  constructor(
    message: string,
    /** When no probe could be attached: why each failed. */
    readonly failed?: Partial<Record<ProbeName, string>>,
  ) {
    super(message);
    this.name = 'ProbeError';
  }
}

interface Pending {
  command: string;
  resolve: (line: LoaderLine) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

class LoaderSession {
  probes: ProbeName[] = [];
  failed: Partial<Record<ProbeName, string>> = {};
  readonly loaderPid: number;

  private ready: ReadyLine | undefined;
  private readonly pending: Pending[] = [];
  private readonly componentIds = new Map<string, number>();
  private readonly componentNames = new Map<number, string>();
  private stderrTail = '';
  private exited = false;
  private exitDescription = '';
  private readonly exitPromise: Promise<void>;
  private readonly killOnParentExit = (): void => this.signalGroup('SIGKILL');
  private readyWaiter: { resolve: (r: ReadyLine) => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly child: ChildProcess,
    private readonly commandTimeoutMs: number,
  ) {
    if (child.pid === undefined) throw new HostError('the probe loader did not start');
    this.loaderPid = child.pid;
    process.on('exit', this.killOnParentExit);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_KEEP_BYTES);
    });
    // Writing to a loader that just died must not crash the harness; the exit handler reports it.
    child.stdin!.on('error', () => {});
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    this.exitPromise = new Promise((resolve) => {
      // 'close', not 'exit': by then stderr is read to its end, the loader's exit line included.
      child.once('close', (code, signal) => {
        this.exited = true;
        const why = exitReason(this.stderrTail);
        this.exitDescription = (signal ? `killed by ${signal}` : `exited with code ${code}`) + (why ? ` (${why})` : '');
        process.off('exit', this.killOnParentExit);
        this.failAll(new ProbeError(`probe loader ${this.exitDescription}${this.stderrSummary()}`));
        resolve();
      });
    });
    child.once('error', (error) => this.failAll(new ProbeError(`probe loader: ${error.message}`)));
  }

  waitReady(): Promise<ReadyLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ProbeError(`probe loader not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      this.readyWaiter = {
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
  }

  async track(component: TrackedComponent): Promise<void> {
    if (!component.tgids?.length && !component.cgroupDir) {
      throw new ProbeError(`component ${component.id}: give tgids or a cgroupDir to track`);
    }
    let id = this.componentIds.get(component.id);
    if (id === undefined) {
      id = this.componentIds.size + 1; // 0 means "untracked" in the kernel
      const max = this.ready?.maxComponents ?? DEFAULT_MAX_COMPONENTS;
      if (id >= max) throw new ProbeError(`too many components (at most ${max - 1}); raise maxComponents`);
      this.componentIds.set(component.id, id);
      this.componentNames.set(id, component.id);
    }
    for (const tgid of component.tgids ?? []) {
      if (!Number.isInteger(tgid) || tgid <= 0) throw new ProbeError(`component ${component.id}: bad tgid ${tgid}`);
      await this.command(`track-tgid ${tgid} ${id}`);
    }
    if (component.cgroupDir) {
      if (/[\n\r]/.test(component.cgroupDir)) throw new ProbeError(`component ${component.id}: bad cgroup path`);
      await this.command(`track-cgroup ${component.cgroupDir} ${id}`);
    }
    if (component.origin) await this.command(`origin ${id}`);
  }

  async attachCgroup(dir: string): Promise<void> {
    if (/[\n\r]/.test(dir)) throw new ProbeError('bad cgroup path');
    await this.command(`attach-cgroup ${dir}`);
  }

  async start(): Promise<void> {
    await this.command('start');
  }

  async snapshot(): Promise<ProbeFigures> {
    return this.figures(await this.command('snapshot'));
  }

  async stop(): Promise<ProbeFigures> {
    try {
      const line = await this.command('stop');
      const figures = this.figures(line);
      await this.waitExit(EXIT_GRACE_MS);
      return figures;
    } finally {
      await this.kill();
    }
  }

  async kill(): Promise<void> {
    if (!this.exited) {
      this.child.stdin!.end();
      this.signalGroup('SIGKILL');
    }
    await this.exitPromise;
  }

  private figures(line: LoaderLine): ProbeFigures {
    if (!isSnapshot(line)) throw new ProbeError(`expected a snapshot from the loader, got ${JSON.stringify(line).slice(0, 200)}`);
    return toProbeFigures(line, this.componentNames, this.ready!);
  }

  private command(command: string): Promise<LoaderLine> {
    if (this.exited) return Promise.reject(new ProbeError(`probe loader ${this.exitDescription}${this.stderrSummary()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new ProbeError(`probe loader did not answer "${command}" within ${this.commandTimeoutMs} ms`);
        this.failAll(error);
        void this.kill();
      }, this.commandTimeoutMs);
      this.pending.push({ command, resolve, reject, timer });
      this.child.stdin!.write(`${command}\n`);
    });
  }

  private onLine(text: string): void {
    let line: LoaderLine;
    try {
      line = parseLoaderLine(text);
    } catch (error) {
      this.failAll(new ProbeError(`probe loader: ${(error as Error).message}`));
      void this.kill();
      return;
    }
    if (!this.ready) {
      if (isReady(line)) {
        this.ready = line;
        this.probes = asProbeNames(line.probes);
        this.failed = Object.fromEntries(Object.entries(line.failed).filter(([p]) => asProbeNames([p]).length)) as Partial<Record<ProbeName, string>>;
        // With nothing attached the loader follows with a fatal error and exits.
        if (line.probes.length > 0) this.readyWaiter?.resolve(line);
        return;
      }
      const why = isError(line) ? line.error : `unexpected first line ${text.slice(0, 200)}`;
      const failures = Object.entries(this.failed).map(([p, reason]) => `${p}: ${reason}`);
      this.readyWaiter?.reject(new HostError(`probe loader: ${why}${failures.length ? ` (${failures.join('; ')})` : ''}`));
      return;
    }
    if (isError(line) && line.fatal) {
      const failures = Object.entries(this.failed).map(([p, reason]) => `${p}: ${reason}`);
      const detail = failures.length ? ` (${failures.join('; ')})` : '';
      this.failAll(new ProbeError(`probe loader: ${line.error}${detail}`, { ...this.failed }));
      return;
    }
    const pending = this.pending.shift();
    if (!pending) return; // nothing asked: ignore
    clearTimeout(pending.timer);
    if (isError(line)) pending.reject(new ProbeError(`probe loader refused "${pending.command}": ${line.error}`));
    else pending.resolve(line);
  }

  private failAll(error: Error): void {
    this.readyWaiter?.reject(error);
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(error);
    }
  }

  private waitExit(timeoutMs: number): Promise<void> {
    return Promise.race([this.exitPromise, new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  private signalGroup(signal: NodeJS.Signals): void {
    // Once the loader is reaped its pid (and group id) may be reused: never signal it then.
    if (this.exited || this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(-this.loaderPid, signal); // its own process group (detached)
    } catch {
      // already gone
    }
  }

  private stderrSummary(): string {
    const tail = this.stderrTail.trim().split('\n').filter((l) => !EXIT_LINE.test(l)).slice(-5).join('\n');
    return tail ? `: ${tail}` : '';
  }
}

/**
 * A session: the loader for the BPF probes (dwell, connect, memory) and the kernel's own
 * accounting for cpu and runq; one set of figures. Without a BPF probe there is no loader
 * (loaderPid 0).
 */
class CombinedSession implements ProbeSession {
  readonly probes: ProbeName[];
  readonly failed: Partial<Record<ProbeName, string>>;
  readonly loaderPid: number;

  constructor(
    private readonly loader: LoaderSession | undefined,
    private readonly accounting: Accounting,
    accounted: readonly ProbeName[],
  ) {
    this.probes = [...(loader?.probes ?? []), ...accounted];
    this.failed = { ...(loader?.failed ?? {}) };
    this.loaderPid = loader?.loaderPid ?? 0;
  }

  async track(component: TrackedComponent): Promise<void> {
    if (!component.tgids?.length && !component.cgroupDir) {
      throw new ProbeError(`component ${component.id}: give tgids or a cgroupDir to track`);
    }
    await this.loader?.track(component);
    this.accounting.track(component);
  }

  async attachCgroup(dir: string): Promise<void> {
    await this.loader?.attachCgroup(dir);
    await this.accounting.attachCgroup(dir);
  }

  async start(): Promise<void> {
    await this.loader?.start();
    await this.accounting.begin();
  }

  async snapshot(): Promise<ProbeFigures> {
    return this.merge(await this.loader?.snapshot(), false);
  }

  async stop(): Promise<ProbeFigures> {
    const accounted = await this.accounting.figures();
    return this.merge(await this.loader?.stop(), true, accounted);
  }

  kill(): Promise<void> {
    return this.loader?.kill() ?? Promise.resolve();
  }

  private async merge(figures: ProbeFigures | undefined, final: boolean, known?: Awaited<ReturnType<Accounting['figures']>>): Promise<ProbeFigures> {
    const accounted = known ?? (await this.accounting.figures());
    const merged: ProbeFigures = figures ?? { windowMs: 0, final, probes: [], failed: {}, components: {} };
    merged.probes = [...this.probes];
    merged.failed = { ...this.failed };
    for (const [id, extra] of Object.entries(accounted.components)) merged.components[id] = { ...(merged.components[id] ?? {}), ...extra };
    if (accounted.hostCpus) merged.hostCpus = accounted.hostCpus;
    if (accounted.datapathBpf) merged.datapathBpf = accounted.datapathBpf;
    return merged;
  }
}

/** Starts the loader with the given probes; resolves once they are attached. Probes that
 * could not be loaded are listed in `session.failed`; if none could, this rejects. */
export async function startProbes(options: ProbeOptions): Promise<ProbeSession> {
  if (options.probes.length === 0) throw new ProbeError('no probe asked for');
  const accounted = options.probes.filter((p) => ACCOUNTING_PROBES.includes(p));
  const accounting = new Accounting(accounted.includes('cpu'), accounted.includes('runq'));
  const bpfProbes = options.probes.filter((p) => !ACCOUNTING_PROBES.includes(p));
  const loader = bpfProbes.length > 0 ? await startLoader({ ...options, probes: bpfProbes }) : undefined;
  return new CombinedSession(loader, accounting, accounted);
}

async function startLoader(options: ProbeOptions): Promise<LoaderSession> {
  const loaderPath = options.loaderPath ?? DEFAULT_LOADER_PATH;
  if (!existsSync(loaderPath)) throw new HostError(`probe loader ${loaderPath} is not built (run make -C bpf)`);
  const args = [
    '--probes', options.probes.join(','),
    '--mem-interval-ms', String(options.memIntervalMs ?? DEFAULT_MEM_INTERVAL_MS),
    '--max-components', String(options.maxComponents ?? DEFAULT_MAX_COMPONENTS),
    '--sample-every', String(options.sampleEvery ?? sampleEveryFromEnv()),
  ];
  const child = spawn(loaderPath, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new HostError(`cannot start the probe loader ${loaderPath}: ${e.message}`)));
  });
  const session = new LoaderSession(child, options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
  try {
    await session.waitReady();
  } catch (error) {
    await session.kill();
    throw error;
  }
  return session;
}
