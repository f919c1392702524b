// Each data path carries requests end to end, and the path is proven by counters, not
// assumed: sidecar — both sidecars saw the requests; ebpf — no iptables rule anywhere,
// connect4 attached, the node proxy counted the requests; ebpf-l4 — no proxy process and
// the server saw the client pod's address; baseline — the node's DNAT and conntrack.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { run } from '../../harness/exec.ts';
import { SockLb } from '../../harness/mesh/sockLb.ts';
import { bpfPinDir, serviceVip } from '../../harness/platform/local/names.ts';
import type { LiveCell } from '../../harness/runner/cell.ts';
import { iptablesRuleCount, processNamesInNetns, withCell } from './datapath-helpers.ts';
import { assertNothingLeft, requestsFromPod, requireRoot } from './helpers.ts';

const SERVICES = 2;
const REQUESTS_PER_SERVICE = 5;

async function serverStats(live: LiveCell, podIndex: number): Promise<{ requests: number; peers: Record<string, number> }> {
  const pod = live.servers[podIndex]!;
  // Asked from the node netns straight at the pod address: no VIP, no socket LB involved.
  const r = await run(process.execPath, ['-e', `fetch('http://${pod.ip}:8080/_meshbench/stats').then(r => r.text()).then(t => console.log(t))`], {
    netns: live.cluster.node.netns,
  });
  return JSON.parse(r.stdout);
}

async function sendToEveryService(live: LiveCell): Promise<void> {
  for (const service of live.services) {
    const responses = await requestsFromPod(live.cluster, live.client, `http://${service.vip}:${service.port}/`, REQUESTS_PER_SERVICE);
    assert.equal(responses.length, REQUESTS_PER_SERVICE);
    for (const r of responses) {
      assert.equal(r.status, 200);
      assert.equal(r.bytes, 1024);
      // Whatever the path, the client believes it talks to the VIP (getpeername4 for eBPF).
      assert.equal(r.peer, `${service.vip}:${service.port}`);
    }
  }
}

describe('data paths', () => {
  before(requireRoot);
  afterEach(assertNothingLeft);
  after(assertNothingLeft);

  test('baseline: iptables DNAT on the node, replies un-NATed by the node conntrack', async () => {
    await withCell({ mesh: 'baseline', services: SERVICES }, async (live) => {
      await sendToEveryService(live);
      const counters = await live.mesh.pathCounters();
      for (const s of live.services) assert.equal(counters[`dnat-connections:${s.name}`], REQUESTS_PER_SERVICE);
      // The server saw the client pod's own address (DNAT only, no SNAT) …
      const stats = await serverStats(live, 0);
      assert.equal(stats.peers[live.client.ip], REQUESTS_PER_SERVICE);
      // … and the node's conntrack holds the VIP translation whose reply comes from the pod:
      // the reply passed back through the node and was turned back into the VIP there.
      const ct = await run('conntrack', ['-L', '-p', 'tcp', '-d', serviceVip(1)], { netns: live.cluster.node.netns, allowFailure: true });
      assert.match(ct.stdout, new RegExp(`src=${live.client.ip.replace(/\./g, '\\.')} dst=${serviceVip(1).replace(/\./g, '\\.')} .*src=${live.servers[0]!.ip.replace(/\./g, '\\.')} dst=${live.client.ip.replace(/\./g, '\\.')}`));
      assert.equal(live.mesh.components().length, 0);
    });
  });

  test('sidecar: client sidecar → server sidecar → server, both sidecars count every request', async () => {
    await withCell({ mesh: 'sidecar', services: SERVICES }, async (live) => {
      await sendToEveryService(live);
      const counters = await live.mesh.pathCounters();
      assert.equal(counters['client-1/sidecar:outbound'], SERVICES * REQUESTS_PER_SERVICE);
      for (const pod of live.servers) assert.equal(counters[`${pod.name}/sidecar:inbound`], REQUESTS_PER_SERVICE);
      // The server app saw its own sidecar (loopback), never the client directly.
      const stats = await serverStats(live, 0);
      assert.deepEqual(Object.keys(stats.peers), ['127.0.0.1']);
      // One proxy per pod, each running as the excluded uid.
      const components = live.mesh.components();
      assert.equal(components.length, 1 + SERVICES);
      for (const c of components) {
        const status = (await import('node:fs')).readFileSync(`/proc/${c.pid}/status`, 'utf8');
        assert.match(status, /^Uid:\s+1337\s/m);
        // … started from /, as a container from its workdir: a uid-1337 HAProxy cannot chdir
        // back into a harness cwd it may not enter (a clone in a 0700 `mktemp -d`).
        assert.equal((await import('node:fs')).readlinkSync(`/proc/${c.pid}/cwd`), '/');
      }
      // No iptables rules on the node: interception lives in the pods.
      assert.equal(await iptablesRuleCount(live.cluster.node, live.cluster), 0);
      assert.ok((await iptablesRuleCount(live.client, live.cluster)) > 0);
    });
  });

  test('ebpf: connect4 rewrites the VIP to the node proxy; no iptables rules at all', async () => {
    await withCell({ mesh: 'ebpf', services: SERVICES }, async (live) => {
      await sendToEveryService(live);
      for (const where of [live.cluster.node, live.client, ...live.servers]) {
        assert.equal(await iptablesRuleCount(where, live.cluster), 0, `iptables rules in ${where.name}`);
      }
      const lb = new SockLb(bpfPinDir(live.cluster.runId, 'socklb'), live.cluster.cgroupV2Root);
      assert.deepEqual((await lb.attachedTo()).sort(), ['socklb_connect4', 'socklb_getpeer4']);
      const counters = await live.mesh.pathCounters();
      for (const s of live.services) {
        assert.equal(counters[`node-proxy:${s.name}`], REQUESTS_PER_SERVICE);
        assert.equal(counters[`bpf-connect4-rewrites:${s.vip}:${s.port}`], REQUESTS_PER_SERVICE);
      }
      // The server saw the node proxy, the one proxy of the node.
      const stats = await serverStats(live, 0);
      assert.deepEqual(Object.keys(stats.peers), [live.cluster.node.ip]);
      assert.deepEqual(live.mesh.components().map((c) => c.role), ['node-proxy']);
    });
  });

  test('ebpf-l4: connect4 straight to the backend; no proxy process, the server sees the client pod', async () => {
    await withCell({ mesh: 'ebpf-l4', services: SERVICES }, async (live) => {
      await sendToEveryService(live);
      const counters = await live.mesh.pathCounters();
      for (const s of live.services) assert.equal(counters[`bpf-connect4-rewrites:${s.vip}:${s.port}`], REQUESTS_PER_SERVICE);
      for (let i = 0; i < SERVICES; i++) {
        const stats = await serverStats(live, i);
        assert.equal(stats.peers[live.client.ip], REQUESTS_PER_SERVICE);
      }
      assert.equal(live.mesh.components().length, 0);
      for (const netns of [live.cluster.node.netns, live.client.netns, ...live.servers.map((p) => p.netns)]) {
        assert.ok(!(await processNamesInNetns(netns)).includes('haproxy'), `a proxy runs in ${netns}`);
      }
      for (const where of [live.cluster.node, live.client, ...live.servers]) {
        assert.equal(await iptablesRuleCount(where, live.cluster), 0);
      }
    });
  });
});
