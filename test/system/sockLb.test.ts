// System test of the eBPF socket-level load balancer: real programs attached to a real
// cgroup v2 directory, real TCP servers in a real network namespace. Run as root:
//   node --import tsx --test test/system/sockLb.test.ts
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../../harness/exec.ts';
import { loadSockLb, removeSockLb, SOCK_LB_OBJECT, SOCK_LB_PROGRAMS, type SockLb } from '../../harness/mesh/sockLb.ts';

const runId = `t${randomInt(36 ** 4).toString(36).padStart(4, '0')}`;
const netns = `mb-${runId}-lb`;
const cgroupDir = `/sys/fs/cgroup/unified/meshbench/${runId}`;
const pinRunDir = `/sys/fs/bpf/meshbench/${runId}`;
const pinDir = join(pinRunDir, 'socklb');

const VIP = '198.19.0.1';
const VIP_PORT = 80;
const BACKEND_IPS = ['198.18.0.10', '198.18.0.11'];
const BACKEND_PORT = 8080;
const CONNECTIONS = 50;

// Tells the client which backend answered and whom it saw.
const SERVER_JS = `
const net = require('node:net');
const [ip, port] = process.argv.slice(1);
net.createServer((sock) => {
  sock.end(JSON.stringify({ backend: sock.localAddress + ':' + sock.localPort, client: sock.remoteAddress + ':' + sock.remotePort }) + '\\n');
}).listen(Number(port), ip, () => console.log('listening'));
`;

// Connects COUNT times one after the other; per connection prints what getpeername()
// said (socket.remoteAddress/remotePort) and the server's reply, or the error code.
const CLIENT_JS = `
const net = require('node:net');
const fs = require('node:fs');
const [count, host, port] = process.argv.slice(1);
function once() {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port: Number(port) });
    let peer = null, reply = '';
    sock.setTimeout(5000, () => sock.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    sock.on('connect', () => { peer = sock.remoteAddress + ':' + sock.remotePort; });
    sock.on('data', (d) => { reply += d; });
    sock.on('end', () => resolve({ peer, reply: JSON.parse(reply) }));
    sock.on('error', (e) => resolve({ error: e.code || e.message }));
  });
}
(async () => {
  const results = [];
  for (let i = 0; i < Number(count); i++) results.push(await once());
  const cgroup = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\\n').find((l) => l.startsWith('0::'));
  console.log(JSON.stringify({ cgroup, results }));
})();
`;

interface ClientResult {
  peer?: string;
  reply?: { backend: string; client: string };
  error?: string;
}

const servers: ChildProcess[] = [];
let lb: SockLb | undefined;

/** Runs the client in the netns; inside the test cgroup (as a pod's process is) or not. */
async function connectMany(count: number, inCgroup: boolean): Promise<{ cgroup: string; results: ClientResult[] }> {
  const client = [process.execPath, '-e', CLIENT_JS, String(count), VIP, String(VIP_PORT)];
  const { stdout } = inCgroup
    ? await run(
        'sh',
        ['-c', 'cg=$1 ns=$2; shift 2; echo $$ > "$cg/cgroup.procs" && exec ip netns exec "$ns" "$@"', 'sh', cgroupDir, netns, ...client],
        { timeoutMs: 60_000 },
      )
    : await run('ip', ['netns', 'exec', netns, ...client], { timeoutMs: 60_000 });
  return JSON.parse(stdout);
}

function startServer(ip: string): Promise<ChildProcess> {
  // detached: its own process group, so after() can kill exactly it.
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', SERVER_JS, ip, String(BACKEND_PORT)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server on ${ip} did not start within 10 s`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server on ${ip} exited with ${code}`));
    });
  });
}

const mainService = (backendIps: string[]) => ({
  vip: VIP,
  port: VIP_PORT,
  backends: backendIps.map((ip) => ({ ip, port: BACKEND_PORT })),
});

before(async () => {
  if (!existsSync(SOCK_LB_OBJECT)) await run('make', ['-C', dirname(dirname(SOCK_LB_OBJECT))], { timeoutMs: 120_000 });
  if ((await run('mountpoint', ['-q', '/sys/fs/bpf'], { allowFailure: true })).exitCode !== 0) {
    await run('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  }
  await run('ip', ['netns', 'add', netns]);
  await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  // The VIP is local too, so a connect that is NOT rewritten is refused (not unroutable).
  for (const ip of [...BACKEND_IPS, VIP]) await run('ip', ['-n', netns, 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
  await mkdir(cgroupDir, { recursive: true });
  for (const ip of BACKEND_IPS) await startServer(ip);
  lb = await loadSockLb(pinDir, cgroupDir);
  await lb.setServices([mainService(BACKEND_IPS)]);
});

after(async () => {
  const problems: unknown[] = [];
  const step = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (error) {
      problems.push(error);
    }
  };
  for (const server of servers) {
    await step(async () => {
      if (server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      process.kill(-server.pid!, 'SIGTERM');
      // unref: a timer left pending would keep this test process alive after the race.
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    });
  }
  await step(() => removeSockLb(pinDir, cgroupDir));
  await step(async () => {
    if (!existsSync(cgroupDir)) return;
    const { stdout } = await run('bpftool', ['-j', 'cgroup', 'show', cgroupDir]);
    assert.ok(!SOCK_LB_PROGRAMS.some((name) => stdout.includes(name)), `still attached after removeSockLb: ${stdout}`);
  });
  await step(async () => existsSync(cgroupDir) && rmdir(cgroupDir));
  await step(() => rm(pinRunDir, { recursive: true, force: true }));
  await step(() => run('ip', ['netns', 'delete', netns], { allowFailure: true }));

  await step(async () => {
    assert.ok(!existsSync(pinRunDir), `${pinRunDir} left behind`);
    assert.ok(!existsSync(cgroupDir), `${cgroupDir} left behind`);
    const { stdout } = await run('ip', ['netns', 'list']);
    assert.ok(!stdout.split('\n').some((line) => line.split(' ')[0] === netns), `netns ${netns} left behind`);
  });
  if (problems.length > 0) throw new AggregateError(problems, `cleanup of ${runId} failed`);
});

test('both programs are attached to the cgroup', async () => {
  assert.deepEqual((await lb!.attachedTo()).sort(), [...SOCK_LB_PROGRAMS].sort());
});

test(`connects to the VIP from inside the cgroup reach both backends, getpeername shows the VIP`, { timeout: 60_000 }, async () => {
  const { cgroup, results } = await connectMany(CONNECTIONS, true);
  assert.equal(cgroup, `0::/meshbench/${runId}`, 'client ran in the test cgroup');
  const backendsSeen = new Map<string, number>();
  for (const result of results) {
    assert.equal(result.error, undefined, `connect failed: ${result.error}`);
    assert.equal(result.peer, `${VIP}:${VIP_PORT}`, 'getpeername() gives the VIP back');
    backendsSeen.set(result.reply!.backend, (backendsSeen.get(result.reply!.backend) ?? 0) + 1);
  }
  assert.deepEqual(
    [...backendsSeen.keys()].sort(),
    BACKEND_IPS.map((ip) => `${ip}:${BACKEND_PORT}`),
    `both backends chosen over ${CONNECTIONS} connections: ${JSON.stringify([...backendsSeen])}`,
  );
  assert.deepEqual(await lb!.rewriteCounts(), new Map([[`${VIP}:${VIP_PORT}`, CONNECTIONS]]));
});

test('a process outside the cgroup is not rewritten', { timeout: 60_000 }, async () => {
  const { results } = await connectMany(1, false);
  assert.deepEqual(results, [{ error: 'ECONNREFUSED' }]);
  assert.equal((await lb!.rewriteCounts()).get(`${VIP}:${VIP_PORT}`), CONNECTIONS, 'no rewrite counted');
});

test('setServices writes 100 services in well under a second, and shrinks back', { timeout: 60_000 }, async (t) => {
  const many = [mainService(BACKEND_IPS)];
  for (let i = 0; i < 100; i++) {
    many.push({
      vip: `198.19.1.${i}`,
      port: 80,
      backends: [0, 1, 2].map((b) => ({ ip: `198.18.${1 + b}.${i}`, port: 8080 + b })),
    });
  }
  const startMs = performance.now();
  await lb!.setServices(many);
  const elapsedMs = performance.now() - startMs;
  t.diagnostic(`setServices(101 services, 301 backends): ${elapsedMs.toFixed(0)} ms`);
  assert.ok(elapsedMs < 1000, `took ${elapsedMs} ms`);

  const counts = await lb!.rewriteCounts();
  assert.equal(counts.size, 101);
  assert.equal(counts.get(`${VIP}:${VIP_PORT}`), CONNECTIONS, 'an unchanged service keeps its id and counter');
  assert.equal(counts.get('198.19.1.99:80'), 0);

  const againMs = performance.now();
  await lb!.setServices(many); // nothing changed: no writes
  t.diagnostic(`setServices(same 101 services): ${(performance.now() - againMs).toFixed(0)} ms`);

  // Back to the one service with only its second backend: the other 100 services and the
  // surplus slot must be gone from the kernel, and every connect must land on .11.
  await lb!.setServices([mainService([BACKEND_IPS[1]])]);
  assert.deepEqual(await lb!.rewriteCounts(), new Map([[`${VIP}:${VIP_PORT}`, CONNECTIONS]]));
  const { stdout } = await run('bpftool', ['-j', 'map', 'dump', 'pinned', join(pinDir, 'maps', 'socklb_backend')]);
  assert.equal(JSON.parse(stdout).length, 1, 'one backend entry left');

  const { results } = await connectMany(10, true);
  for (const result of results) {
    assert.equal(result.reply?.backend, `${BACKEND_IPS[1]}:${BACKEND_PORT}`);
    assert.equal(result.peer, `${VIP}:${VIP_PORT}`);
  }
  assert.equal((await lb!.rewriteCounts()).get(`${VIP}:${VIP_PORT}`), CONNECTIONS + 10);
});
