// Each probe's figure against an independent source, on real processes: /proc for memory
// and CPU, the client's own count for connections, a server with a known service time for
// dwell, CPU hogs for run-queue waits. Needs root and bpf/build (make -C bpf). The dwell
// and connect probes see sockets by cgroup (as a cell's components are), so their
// processes run in cgroups of their own under one made here and removed in after().
// Traffic goes to 127.0.0.1 only; every process started here is killed by pid in after().
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startProbes, type ProbeSession, type RunQueueTotals } from '../../harness/probes/index.ts';

const CLK_TCK = 100; // USER_HZ: /proc/<pid>/stat times are in 1/100 s on Linux
const CGROUP_V2_ROOT = '/sys/fs/cgroup/unified';

const children: ChildProcess[] = [];

/** Starts `node -e code` (optionally pinned with taskset) and waits for its first stdout line. */
async function startNode(code: string, options: { cpu?: number } = {}): Promise<{ child: ChildProcess; firstLine: string }> {
  const argv = ['node', '-e', code];
  const [cmd, ...args] = options.cpu === undefined ? argv : ['taskset', '-c', String(options.cpu), ...argv];
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const firstLine = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`child exited (${c}) before it was ready: ${code.slice(0, 80)}`)));
  });
  return { child, firstLine };
}

const TEST_CGROUP = `${CGROUP_V2_ROOT}/mbtest-probes-${process.pid}`;

/** Starts `node -e code` inside a new cgroup TEST_CGROUP/<name>; resolves with its first stdout line. */
async function startNodeInCgroup(name: string, code: string): Promise<{ child: ChildProcess; firstLine: string; cgroupDir: string }> {
  const cgroupDir = `${TEST_CGROUP}/${name}`;
  mkdirSync(cgroupDir, { recursive: true });
  const child = spawn('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && shift && exec node -e "$0"', code, cgroupDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const firstLine = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`child exited (${c}) before it was ready: ${code.slice(0, 80)}`)));
  });
  return { child, firstLine, cgroupDir };
}

/** Removes a cgroup tree once its processes are gone (a task that just exited can hold it a moment). */
async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) await removeCgroupTree(`${dir}/${entry.name}`);
  for (let i = 0; i < 50 && existsSync(dir); i++) {
    try {
      rmdirSync(dir);
    } catch {
      await sleep(100);
    }
  }
}

function stopChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function cpuTicks(pid: number): number {
  // Fields after the command name (which may hold spaces) start at field 3.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime (14), stime (15)
}

function vmRssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `VmRSS of ${pid}`);
  return Number(m[1]) * 1024;
}

function withinPct(actual: number, expected: number, pct: number, what: string): void {
  const diffPct = (Math.abs(actual - expected) / expected) * 100;
  assert.ok(diffPct <= pct, `${what}: probe ${actual} vs independent ${expected} (${diffPct.toFixed(2)} % > ${pct} %)`);
}

const BUSY_LOOP = `console.log('ready'); const end = Date.now() + 60_000; while (Date.now() < end) {}`;

describe('eBPF probes against independent sources', { timeout: 180_000 }, () => {
  let session: ProbeSession | undefined;

  before(() => {
    assert.equal(process.getuid?.(), 0, 'the probe tests need root');
  });

  after(async () => {
    await session?.kill();
    for (const c of children) stopChild(c);
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((resolve) => c.once('exit', resolve)))));
    await removeCgroupTree(TEST_CGROUP);
    assert.equal(existsSync(TEST_CGROUP), false, `${TEST_CGROUP} removed`);
  });

  it('memory: RSS of a process that touched 200 MB agrees with /proc VmRSS within 5 %', async (t) => {
    const { child } = await startNode(
      `const b = Buffer.alloc(200 * 1024 * 1024, 1); console.log('ready'); setInterval(() => b[0]++, 1000);`,
    );
    session = await startProbes({ probes: ['memory'], memIntervalMs: 100 });
    await session.track({ id: 'alloc/app', tgids: [child.pid!] });
    await session.start();
    const procSamples: number[] = [];
    for (let i = 0; i < 10; i++) {
      procSamples.push(vmRssBytes(child.pid!));
      await sleep(100);
    }
    const figures = await session.stop();
    session = undefined;
    const memory = figures.components['alloc/app']!.memory!;
    const procMean = procSamples.reduce((a, b) => a + b, 0) / procSamples.length;
    t.diagnostic(`memory: probe mean ${memory.meanBytes} peak ${memory.peakBytes} B (${memory.samples} samples); VmRSS mean ${procMean.toFixed(0)} B`);
    assert.ok(memory.samples >= 5, `samples ${memory.samples}`);
    assert.ok(procMean > 200 * 1024 * 1024, `VmRSS ${procMean}`);
    withinPct(memory.meanBytes, procMean, 5, 'mean RSS');
    withinPct(memory.peakBytes, Math.max(...procSamples), 5, 'peak RSS');
    stopChild(child);
  });

  it('cpu: on-CPU seconds of busy loops (by tgid: schedstat; by cgroup: cpu.stat) agree with /proc utime+stime within 10 %', async (t) => {
    const cgroupDir = `${CGROUP_V2_ROOT}/mbtest-probes-${process.pid}`;
    mkdirSync(cgroupDir, { recursive: true });
    let inCgroup: ChildProcess | undefined;
    try {
      // Both loops share CPU 1, so the test and the loader answer promptly on the other CPU.
      const byTgid = await startNode(BUSY_LOOP, { cpu: 1 });
      // Into the cgroup first, then exec: every task of it is the component.
      inCgroup = spawn('sh', ['-c', `echo $$ > ${cgroupDir}/cgroup.procs && exec taskset -c 1 node -e "${BUSY_LOOP}"`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(inCgroup);
      await new Promise((resolve) => createInterface({ input: inCgroup!.stdout! }).once('line', resolve));

      session = await startProbes({ probes: ['cpu'] });
      await session.track({ id: 'busy/tgid', tgids: [byTgid.child.pid!] });
      await session.track({ id: 'busy/cgroup', cgroupDir });
      // /proc is read just before and just after each command, so the probe's window lies
      // inside both brackets; compare with the midpoints.
      const pids = [byTgid.child.pid!, inCgroup.pid!];
      const ticks = (): number[] => pids.map(cpuTicks);
      const beforeStart = ticks();
      await session.start();
      const afterStart = ticks();
      await sleep(3000);
      const beforeSnapshot = ticks();
      const figures = await session.snapshot();
      const afterSnapshot = ticks();
      await session.stop();
      session = undefined;

      const procSeconds = pids.map(
        (_, i) => ((beforeSnapshot[i]! + afterSnapshot[i]!) / 2 - (beforeStart[i]! + afterStart[i]!) / 2) / CLK_TCK,
      );
      const probeSeconds = [figures.components['busy/tgid']!.cpuSeconds!, figures.components['busy/cgroup']!.cpuSeconds!];
      t.diagnostic(`cpu: probe ${probeSeconds.map((x) => x.toFixed(3)).join(' s, ')} s; /proc ${procSeconds.join(' s, ')} s`);
      assert.ok(procSeconds[0]! > 0.5 && procSeconds[1]! > 0.5, `the loops ran: ${procSeconds}`);
      withinPct(probeSeconds[0]!, procSeconds[0]!, 10, 'cpu (tgid)');
      withinPct(probeSeconds[1]!, procSeconds[1]!, 10, 'cpu (cgroup)');
      const byCgroup = figures.components['busy/cgroup']!;
      withinPct(byCgroup.userSeconds! + byCgroup.systemSeconds!, byCgroup.cpuSeconds!, 2, 'user + system vs usage (cgroup)');
      stopChild(byTgid.child);
    } finally {
      // A cgroup can be removed once its last task is gone: end the loop in it first.
      const last = inCgroup;
      if (last) {
        stopChild(last);
        await new Promise((resolve) => (last.exitCode !== null || last.signalCode !== null ? resolve(null) : last.once('exit', resolve)));
      }
      for (let i = 0; i < 50 && existsSync(cgroupDir); i++) {
        try {
          rmdirSync(cgroupDir);
        } catch {
          await sleep(100);
        }
      }
    }
    assert.equal(existsSync(cgroupDir), false, `${cgroupDir} removed`);
  });

  it('connect: counts exactly the connections a client made, with their latency; the server (by cgroup) counts its accepts', async (t) => {
    const connections = 50;
    const server = await startNodeInCgroup('connect-server',
      `const s = require('net').createServer((c) => c.end()); s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
    );
    const port = Number(server.firstLine);
    const client = await startNode(`
      const net = require('net');
      console.log('ready');
      process.stdin.once('data', async () => {
        for (let i = 0; i < ${connections}; i++) {
          await new Promise((resolve, reject) => {
            const c = net.connect(${port}, '127.0.0.1', () => { c.destroy(); resolve(); });
            c.on('error', reject);
          });
        }
        console.log('done');
      });`);
    session = await startProbes({ probes: ['connect'] });
    await session.track({ id: 'client-1/app', tgids: [client.child.pid!] });
    await session.track({ id: 'server-1/app', cgroupDir: server.cgroupDir });
    await session.start();
    const done = new Promise((resolve) => createInterface({ input: client.child.stdout! }).once('line', resolve));
    client.child.stdin!.write('go\n');
    await done;
    await sleep(200); // the last accepts
    const figures = await session.stop();
    session = undefined;
    const clientConnect = figures.components['client-1/app']!.connect!;
    t.diagnostic(`connect: ${clientConnect.count} established, p50 ${clientConnect.p50Us} µs, p99 ${clientConnect.p99Us} µs; accepted ${figures.components['server-1/app']!.connect!.accepted}`);
    assert.equal(clientConnect.count, connections);
    assert.equal(clientConnect.failed, 0);
    assert.ok(clientConnect.p50Us > 0 && clientConnect.p99Us >= clientConnect.p50Us, JSON.stringify(clientConnect));
    assert.ok(clientConnect.meanUs > 0 && clientConnect.meanUs < 100_000, `loopback connect ${clientConnect.meanUs} µs`);
    assert.equal(figures.components['server-1/app']!.connect!.accepted, connections);
    assert.equal(figures.components['server-1/app']!.connect!.count, 0);
    stopChild(client.child);
    stopChild(server.child);
  });

  it('dwell: a server that works 2 ms per request dwells 1.9–2.5 ms (p50), and serves each in 1.9–2.5 ms at its socket; an echo server far below 1 ms', async (t) => {
    const requests = 200;
    const slowServer = await startNodeInCgroup('slow', `
      const s = require('http').createServer((req, res) => {
        const t = process.hrtime.bigint();
        while (process.hrtime.bigint() - t < 2_000_000n) {}
        res.end('ok');
      });
      s.keepAliveTimeout = 60_000;
      s.listen(0, '127.0.0.1', () => console.log(s.address().port));`);
    const echoServer = await startNodeInCgroup('echo', `
      const s = require('net').createServer((c) => c.on('data', (d) => c.write(d)));
      s.listen(0, '127.0.0.1', () => console.log(s.address().port));`);
    session = await startProbes({ probes: ['dwell'], sampleEvery: 1 }); // every request: the counts are checked
    await session.track({ id: 'server-1/app', cgroupDir: slowServer.cgroupDir });
    await session.track({ id: 'echo-1/app', cgroupDir: echoServer.cgroupDir });
    await session.attachCgroup(TEST_CGROUP);
    await session.start();

    // One keep-alive connection, one request at a time.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < requests; i++) {
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: Number(slowServer.firstLine), path: '/', agent }, (res) => {
            res.resume();
            res.on('end', resolve);
          })
          .on('error', reject);
      });
    }
    agent.destroy();
    const echo = net.connect(Number(echoServer.firstLine), '127.0.0.1');
    await new Promise((resolve) => echo.once('connect', resolve));
    for (let i = 0; i < requests; i++) {
      echo.write('ping');
      await new Promise((resolve) => echo.once('data', resolve));
    }
    echo.destroy();

    const figures = await session.stop();
    session = undefined;
    const slow = figures.components['server-1/app']!.dwell!;
    const fast = figures.components['echo-1/app']!.dwell!;
    t.diagnostic(`dwell: 2 ms server p50 ${slow.p50Us} p90 ${slow.p90Us} p99 ${slow.p99Us} µs (n=${slow.count}); echo p50 ${fast.p50Us} p99 ${fast.p99Us} µs (n=${fast.count})`);
    assert.ok(slow.count >= requests * 0.95 && slow.count <= requests * 1.05, `slow dwell count ${slow.count}`);
    assert.ok(slow.p50Us >= 1900 && slow.p50Us <= 2500, `slow server dwell p50 ${slow.p50Us} µs`);
    assert.ok(fast.count >= requests * 0.95, `echo dwell count ${fast.count}`);
    assert.ok(fast.p50Us < 500, `echo server dwell p50 ${fast.p50Us} µs`);
    // At the server's accepted socket: request in → response out, and its parts.
    const path = figures.components['server-1/app']!.path!;
    t.diagnostic(`path: served p50 ${path.served?.p50Us} µs (n=${path.served?.count}), wake-up p50 ${path.wakeReq?.p50Us} µs, send path p50 ${path.txResp?.p50Us} µs`);
    assert.ok(path.served!.count >= requests * 0.95 && path.served!.count <= requests * 1.05, `served count ${path.served!.count}`);
    assert.ok(path.served!.p50Us >= 1900 && path.served!.p50Us <= 2500, `served p50 ${path.served!.p50Us} µs`);
    assert.ok(path.wakeReq!.count >= requests * 0.95 && path.wakeReq!.p50Us < 1000, `wake-up ${JSON.stringify(path.wakeReq)}`);
    assert.ok(path.txResp!.count >= requests * 0.95 && path.txResp!.p50Us < 500, `send path ${JSON.stringify(path.txResp)}`);
    assert.equal(path.waited, undefined, 'a server that connects nowhere waits on no socket');
    assert.equal(figures.components['echo-1/app']!.path!.served!.count >= requests * 0.95, true);
    stopChild(slowServer.child);
    stopChild(echoServer.child);
  });

  it('runq: a timer loop waits longer for its CPU when three hogs share that CPU (schedstat run_delay)', async (t) => {
    // Quiet and contended phases alternate (the hogs are stopped and continued), so load
    // that other work puts on the host hits both alike; each side's histograms are merged.
    const cpu = 1;
    const rounds = 3;
    const timer = await startNode(
      `console.log('ready'); let n = 0; const tick = () => { if (++n < 100_000) setTimeout(tick, 1); }; tick();`,
      { cpu },
    );
    const hogs = await Promise.all([1, 2, 3].map(() => startNode(BUSY_LOOP, { cpu })));
    const signalHogs = (signal: NodeJS.Signals): void => hogs.forEach((h) => h.child.kill(signal));
    session = await startProbes({ probes: ['runq'] });
    await session.track({ id: 'timer/app', tgids: [timer.child.pid!] });

    const quiet: RunQueueTotals[] = [];
    const contended: RunQueueTotals[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const [phase, into] of [['quiet', quiet], ['contended', contended]] as const) {
        signalHogs(phase === 'quiet' ? 'SIGSTOP' : 'SIGCONT');
        await sleep(100);
        await session.start();
        await sleep(1000);
        into.push((await session.snapshot()).components['timer/app']!.runqueue!);
      }
    }
    await session.stop();
    session = undefined;
    signalHogs('SIGCONT');
    for (const h of hogs) stopChild(h.child);
    stopChild(timer.child);

    const sum = (xs: RunQueueTotals[], pick: (r: RunQueueTotals) => number): number => xs.reduce((t, r) => t + pick(r), 0);
    const meanWaitUs = (xs: RunQueueTotals[]): number => (sum(xs, (r) => r.waitSeconds) * 1e6) / Math.max(1, sum(xs, (r) => r.timeslices));
    const [quietUs, contendedUs] = [meanWaitUs(quiet), meanWaitUs(contended)];
    t.diagnostic(`runq: mean wait per timeslice quiet ${quietUs.toFixed(1)} µs, with 3 hogs ${contendedUs.toFixed(1)} µs`);
    assert.ok(sum(quiet, (r) => r.timeslices) > 300 && sum(contended, (r) => r.timeslices) > 300, 'the timer loop ran');
    assert.ok(contendedUs > quietUs * 1.25 && contendedUs - quietUs > 50, `run-queue wait with hogs ${contendedUs.toFixed(1)} µs vs without ${quietUs.toFixed(1)} µs`);
  });
});
