// The probe loader's life: its protocol (one JSON line per command, errors that do not
// kill it, a probe that cannot load reported while the others run), and that it leaves
// nothing behind — after stop, after stdin EOF, and after the process driving it is
// SIGKILLed. Needs root and bpf/build (make -C bpf).
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_LOADER_PATH, ProbeError, probeSupport, startProbes, PROBE_NAMES } from '../../harness/probes/index.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const children: ChildProcess[] = [];

/** BPF program ids a process holds open, from /proc/<pid>/fdinfo. */
function heldProgramIds(pid: number): number[] {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // fd closed meanwhile
    }
  }
  return [...ids];
}

function loadedProgramIds(): Set<number> {
  const programs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as Array<{ id: number }>;
  return new Set(programs.map((p) => p.id));
}

/** Gone, or a zombie (its files, hence its bpf links and programs, are released at exit). */
function processEnded(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(50);
  }
}

/** Programs are freed shortly after their last fd closes (deferred); wait for that. */
async function assertProgramsGone(ids: number[]): Promise<void> {
  assert.ok(ids.length > 0, 'the loader held programs');
  await waitFor(() => ids.every((id) => !loadedProgramIds().has(id)), 5000, `programs ${ids.join(',')} are unloaded`);
}

describe('probe loader lifecycle', { timeout: 120_000 }, () => {
  before(() => {
    assert.equal(process.getuid?.(), 0, 'the probe tests need root');
    assert.ok(existsSync(DEFAULT_LOADER_PATH), `${DEFAULT_LOADER_PATH} (make -C bpf)`);
  });

  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('doctor: every probe loads and attaches on this host', async () => {
    const support = await probeSupport();
    for (const probe of PROBE_NAMES) assert.deepEqual(support[probe], { ok: true }, `${probe}: ${support[probe].why}`);
  });

  it('stop: final figures, then the loader has exited, been reaped, and its programs are gone', async () => {
    const session = await startProbes({ probes: ['dwell', 'runq', 'cpu', 'connect', 'memory'] });
    const pid = session.loaderPid;
    const programs = heldProgramIds(pid);
    assert.ok(programs.length >= 5, `programs held: ${programs}`);
    await session.track({ id: 'self', tgids: [process.pid] });
    await session.start();
    const figures = await session.stop();
    assert.equal(figures.final, true);
    assert.ok(figures.components.self);
    assert.equal(existsSync(`/proc/${pid}`), false, 'loader reaped');
    await assertProgramsGone(programs);
    await session.kill(); // idempotent
  });

  it('a refused command does not end the session', async () => {
    const session = await startProbes({ probes: ['connect', 'cpu'] });
    try {
      await assert.rejects(session.track({ id: 'ghost', tgids: [2 ** 22 + 12345] }), (e: unknown) => e instanceof ProbeError && /no process/.test(e.message));
      await assert.rejects(session.track({ id: 'not-a-cgroup', cgroupDir: tmpdir() }), /not a cgroup v2 directory/);
      await session.track({ id: 'self', tgids: [process.pid] });
      await session.start();
      const figures = await session.snapshot();
      assert.ok(figures.components.self!.cpuSeconds! >= 0);
    } finally {
      await session.stop();
    }
  });

  it('a loader that ends mid-session says why: its stdin cut on purpose, or a signal and who sent it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-loader-cut-'));
    try {
      // The real loader behind a relay that forwards the harness's commands for 2 s, then
      // closes the loader's stdin: the session must report "stdin closed", not just "code 0".
      const relay = join(dir, 'loader');
      writeFileSync(relay, `#!/bin/sh\ntimeout 2 cat | exec ${DEFAULT_LOADER_PATH} "$@"\n`, { mode: 0o755 });
      const cut = await startProbes({ probes: ['connect', 'cpu'], loaderPath: relay });
      await cut.track({ id: 'self', tgids: [process.pid] });
      await cut.start();
      await waitFor(() => processEnded(cut.loaderPid), 6000, 'the loader has seen its stdin close');
      await assert.rejects(cut.snapshot(), (e: unknown) => e instanceof ProbeError && /exited with code 0 \(stdin closed\)/.test(e.message));
      await cut.kill();

      const signalled = await startProbes({ probes: ['connect', 'cpu'] });
      process.kill(signalled.loaderPid, 'SIGTERM');
      await waitFor(() => processEnded(signalled.loaderPid), 5000, 'the loader has taken the SIGTERM');
      await assert.rejects(
        signalled.snapshot(),
        (e: unknown) => e instanceof ProbeError && new RegExp(`exited with code 0 \\(SIGTERM from pid ${process.pid} `).test(e.message),
      );
      await signalled.kill();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the SIGKILLed parent of a session leaves no loader and no programs (stdin EOF)', async () => {
    const code = `
      const { startProbes } = await import(${JSON.stringify(join(REPO, 'harness/probes/index.ts'))});
      const session = await startProbes({ probes: ['cpu', 'runq', 'memory'] });
      await session.track({ id: 'self', tgids: [process.pid] });
      await session.start();
      console.log(JSON.stringify({ loaderPid: session.loaderPid }));
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(parent);
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: parent.stdout! }).once('line', resolve);
      parent.once('exit', (c) => reject(new Error(`session parent exited (${c}) early`)));
    });
    const { loaderPid } = JSON.parse(line) as { loaderPid: number };
    const programs = heldProgramIds(loaderPid);
    assert.ok(!processEnded(loaderPid));
    parent.kill('SIGKILL'); // no exit hooks run: only the closed pipe tells the loader
    await waitFor(() => processEnded(loaderPid), 5000, `loader ${loaderPid} has exited`);
    await assertProgramsGone(programs);
  });

  describe('the loader protocol, spoken directly', () => {
    let objDir: string;
    before(() => {
      // Only cpu.bpf.o is there: runq must fail to load, and cpu must run regardless.
      objDir = mkdtempSync(join(tmpdir(), 'mb-probes-'));
      copyFileSync(join(dirname(DEFAULT_LOADER_PATH), 'cpu.bpf.o'), join(objDir, 'cpu.bpf.o'));
    });
    after(() => rmSync(objDir, { recursive: true, force: true }));

    function startLoader(args: string[]): { loader: ChildProcess; lines: Interface; next: () => Promise<Record<string, unknown>> } {
      const loader = spawn(DEFAULT_LOADER_PATH, args, { stdio: ['pipe', 'pipe', 'ignore'] });
      children.push(loader);
      const lines = createInterface({ input: loader.stdout! });
      const queue: string[] = [];
      const waiters: Array<(l: string) => void> = [];
      lines.on('line', (l) => (waiters.length ? waiters.shift()!(l) : queue.push(l)));
      const next = (): Promise<Record<string, unknown>> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no line from the loader within 10 s')), 10_000);
          const take = (l: string): void => {
            clearTimeout(timer);
            resolve(JSON.parse(l) as Record<string, unknown>);
          };
          if (queue.length) take(queue.shift()!);
          else waiters.push(take);
        });
      return { loader, lines, next };
    }

    const exitCode = (child: ChildProcess): Promise<number | null> =>
      child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (c) => resolve(c)));

    it('reports a probe that cannot load in the ready line, answers every command with one line, stops with exit 0', async () => {
      const { loader, next } = startLoader(['--probes', 'cpu,runq', '--obj-dir', objDir]);
      const ready = (await next()) as { ready: boolean; probes: string[]; failed: Record<string, string> };
      assert.equal(ready.ready, true);
      assert.deepEqual(ready.probes, ['cpu']);
      assert.match(ready.failed.runq!, /runq\.bpf\.o: No such file or directory/);

      const send = (command: string): void => void loader.stdin!.write(`${command}\n`);
      send('bogus');
      assert.match(String((await next()).error), /unknown command "bogus"/);
      send(`track-tgid ${process.pid} 0`);
      assert.match(String((await next()).error), /component id must be an integer 1\.\./);
      send('track-tgid abc 1');
      assert.match(String((await next()).error), /tgid must be a positive integer/);
      send('track-cgroup /sys/fs/cgroup/unified 3');
      assert.equal((await next()).ok, true);
      send(`track-tgid ${process.pid} 7`);
      assert.deepEqual(await next(), { ok: true, tgid: process.pid, component: 7 });
      send('');
      send('start');
      assert.equal((await next()).ok, true); // the empty line got no answer: this is start's
      send('snapshot');
      const snapshot = (await next()).snapshot as { final: boolean; components: Array<{ id: number; cpu?: unknown; runq?: unknown }> };
      assert.equal(snapshot.final, false);
      assert.deepEqual(snapshot.components.map((c) => c.id), [3, 7]);
      assert.ok(snapshot.components[1]!.cpu);
      assert.equal(snapshot.components[1]!.runq, undefined);
      send('stop');
      assert.equal(((await next()).snapshot as { final: boolean }).final, true);
      assert.equal(await exitCode(loader), 0);
    });

    it('exits 0 on stdin EOF and on SIGTERM; a bad command line is a fatal error with exit 2', async () => {
      const eof = startLoader(['--probes', 'cpu', '--obj-dir', objDir]);
      assert.equal((await eof.next()).ready, true);
      eof.loader.stdin!.end();
      assert.equal(await exitCode(eof.loader), 0);

      const term = startLoader(['--probes', 'cpu', '--obj-dir', objDir]);
      assert.equal((await term.next()).ready, true);
      term.loader.kill('SIGTERM');
      assert.equal(await exitCode(term.loader), 0);

      const bad = startLoader(['--probes', 'cpu,bogus']);
      const error = await bad.next();
      assert.equal(error.fatal, true);
      assert.match(String(error.error), /unknown probe/);
      assert.equal(await exitCode(bad.loader), 2);
    });

    it('with no probe loadable: the reasons, then a fatal error and exit 1', async () => {
      const { loader, next } = startLoader(['--probes', 'runq,dwell', '--obj-dir', objDir]);
      const ready = (await next()) as { probes: string[]; failed: Record<string, string> };
      assert.deepEqual(ready.probes, []);
      assert.deepEqual(Object.keys(ready.failed).sort(), ['dwell', 'runq']);
      const fatal = await next();
      assert.equal(fatal.fatal, true);
      assert.equal(await exitCode(loader), 1);
    });
  });
});
