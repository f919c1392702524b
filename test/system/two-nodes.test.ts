// Two nodes on the local platform: two node namespaces joined by a veth wire (routes, no
// NAT), pods placed per node. Cross-node, every request crosses the wire — its own link
// counters (the kernel's statistics of the wire's end in the first node) show each request
// one way and each 1 KiB response the other —, the server sees the client's own address
// (no NAT on the way), and the eBPF path has one node proxy and one socket LB per node:
// a request of a chain of 2 passes the client's node proxy for s1 and the second node's
// proxy for s2; ambient tunnels from the client node's proxy to the server node's. Same-node,
// nothing of the requests crosses the wire.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { run } from '../../harness/exec.ts';
import { LocalCluster } from '../../harness/platform/local/cluster.ts';
import { WIRE_MTU, wireCounters, wireName } from '../../harness/platform/local/nodes.ts';
import { Haproxy } from '../../harness/proxy/haproxy.ts';
import { bringUp, runCell, type LiveCell } from '../../harness/runner/cell.ts';
import type { MeshName, Placement } from '../../harness/scenario/types.ts';
import { assertNothingLeft, requestsFromPod, requireRoot, testRun, testScenario } from './helpers.ts';

const N = 20;
const RESPONSE_BYTES = 1024;

async function withTwoNodes(mesh: MeshName, placement: Placement, chain: number, check: (live: LiveCell) => Promise<void>): Promise<void> {
  const { runId, state } = testRun();
  const cluster = new LocalCluster(runId, state, 2);
  const scenario = testScenario({ topology: { nodes: 2, placement }, chain: [chain] });
  try {
    const live = await bringUp({ mesh, services: 1, chain }, { runId, state, proxy: new Haproxy(), scenario }, cluster);
    await check(live);
  } finally {
    await cluster.down();
    state.close();
  }
}

/** N requests from the client to service 1; the wire's counters before and after. */
async function sendAndCount(live: LiveCell): Promise<Record<string, number>> {
  const before = await wireCounters(live.cluster.runId, live.cluster.nodes);
  const responses = await requestsFromPod(live.cluster, live.client, `http://${live.services[0]!.vip}/`, N);
  assert.deepEqual(responses.map((r) => [r.status, r.bytes]), Array(N).fill([200, RESPONSE_BYTES]));
  const after = await wireCounters(live.cluster.runId, live.cluster.nodes);
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, k === 'wire:mtu' ? v : v - (before[k] ?? 0)]));
}

async function serverPeers(live: LiveCell, podIndex: number): Promise<Record<string, number>> {
  const pod = live.servers[podIndex]!;
  const script = "fetch('http://127.0.0.1:8080/_meshbench/stats', { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then((t) => process.stdout.write(t))";
  const r = await run(process.execPath, ['-e', script], { netns: pod.netns });
  return (JSON.parse(r.stdout) as { peers: Record<string, number> }).peers;
}

describe('two nodes joined by a wire', () => {
  before(requireRoot);
  after(assertNothingLeft);

  test('cross-node baseline: every request and every response crosses the wire, no NAT', async () => {
    await withTwoNodes('baseline', 'cross-node', 1, async (live) => {
      assert.equal(live.client.node?.name, 'node');
      assert.equal(live.servers[0]!.node?.name, 'node2');
      // The wire: a veth in each node netns, its MTU as stated.
      const link = await run('ip', ['-n', live.cluster.nodes[1]!.netns, '-j', 'link', 'show', 'dev', wireName(live.cluster.runId, 1)]);
      assert.equal((JSON.parse(link.stdout) as Array<{ mtu: number }>)[0]!.mtu, WIRE_MTU);
      const wire = await sendAndCount(live);
      // Each request (a connection each: SYN, request, ACKs, FIN) one way, each 1 KiB answer the other.
      assert.ok(wire['wire:node→node2:packets']! >= 3 * N, `node → node2: ${wire['wire:node→node2:packets']} packets for ${N} requests`);
      assert.ok(wire['wire:node2→node:bytes']! >= N * RESPONSE_BYTES, `node2 → node: ${wire['wire:node2→node:bytes']} bytes for ${N} responses of ${RESPONSE_BYTES} B`);
      assert.ok(wire['wire:node2→node:bytes']! < N * (RESPONSE_BYTES + 1000), 'no more than the responses and their TCP/IP overhead');
      // DNAT on the client's node only; the server saw the client pod's own address.
      const path = await live.mesh.pathCounters();
      assert.equal(path['dnat-connections:s1'], N);
      assert.equal(path['node2/dnat-connections:s1'] ?? 0, 0);
      assert.deepEqual(await serverPeers(live, 0), { [live.client.ip]: N });
    });
  });

  test('cross-node ebpf, a chain of 2: each hop through its caller node’s proxy, every call over the wire', async () => {
    await withTwoNodes('ebpf', 'cross-node', 2, async (live) => {
      assert.deepEqual(live.servers.map((p) => p.node?.name), ['node2', 'node']);
      assert.deepEqual(live.mesh.components().map((c) => c.id), ['node/node-proxy', 'node2/node-proxy']);
      const wire = await sendAndCount(live);
      const path = await live.mesh.pathCounters();
      // client (node) → node's proxy → s1 (node2) → node2's proxy → s2 (node)
      assert.equal(path['node-proxy:s1'], N);
      assert.equal(path['node-proxy:s2'] ?? 0, 0);
      assert.equal(path['node2/node-proxy:s2'], N);
      assert.equal(path['node2/node-proxy:s1'] ?? 0, 0);
      // Both responses cross the wire (s1's to node 1's proxy, s2's to node 2's proxy): twice N × 1 KiB.
      const bytes = wire['wire:node→node2:bytes']! + wire['wire:node2→node:bytes']!;
      assert.ok(bytes >= 2 * N * RESPONSE_BYTES, `${bytes} bytes over the wire for ${N} requests through 2 cross-node hops`);
    });
  });

  test('cross-node ambient: the client node’s proxy tunnels to the server node’s proxy, over the wire', async () => {
    await withTwoNodes('ambient', 'cross-node', 1, async (live) => {
      assert.deepEqual(live.mesh.components().map((c) => c.id), ['node/node-proxy', 'node2/node-proxy']);
      const wire = await sendAndCount(live);
      const path = await live.mesh.pathCounters();
      // One connection per request (the test client does not keep them alive): out at node, in at node2.
      assert.equal(path['node-proxy:outbound-connections'], N);
      assert.equal(path['node-proxy:inbound-connections'], 0);
      assert.equal(path['node2/node-proxy:outbound-connections'], 0);
      assert.equal(path['node2/node-proxy:inbound-connections'], N);
      assert.ok(wire['wire:node2→node:bytes']! >= N * RESPONSE_BYTES, `node2 → node: ${wire['wire:node2→node:bytes']} bytes`);
    });
  });

  test('a cross-node cell as a run runs it: its path records the wire, every request and response on it', async () => {
    const { runId, state } = testRun();
    const scenario = testScenario({ topology: { nodes: 2, placement: 'cross-node' }, probes: [] }, { driver: 'native', rate: 200, connections: 4, durationMs: 1500, warmupMs: 500 });
    let path: Record<string, number>;
    let responses: number;
    try {
      const cell = await runCell(
        { id: 'sidecar-http1-s1-r1', mesh: 'sidecar', protocol: 'http1', services: 1, repeat: 1, index: 0 },
        { runId, state, proxy: new Haproxy(), scenario, signal: new AbortController().signal },
      );
      assert.ok(!cell.notes.some((note) => note.startsWith('failed')), cell.notes.join('; '));
      path = cell.path;
      responses = (cell.load as typeof cell.load & { accounting: { responses: number } }).accounting.responses;
    } finally {
      state.close();
    }
    assert.ok(responses >= 300, `${responses} responses`);
    assert.equal(path['server-1/sidecar:inbound'], responses);
    // Each request is at least one segment towards node2, each 1 KiB answer at least its bytes back.
    assert.ok(path['wire:node→node2:packets']! >= responses, `${path['wire:node→node2:packets']} packets for ${responses} requests`);
    assert.ok(path['wire:node2→node:bytes']! >= responses * RESPONSE_BYTES, `${path['wire:node2→node:bytes']} bytes for ${responses} responses`);
    assert.equal(path['wire:mtu'], WIRE_MTU);
  });

  test('same-node: the requests stay on the first node, the wire carries none of them', async () => {
    await withTwoNodes('sidecar', 'same-node', 1, async (live) => {
      assert.ok([live.client, ...live.servers].every((p) => p.node?.name === 'node'));
      const wire = await sendAndCount(live);
      const total = wire['wire:node→node2:bytes']! + wire['wire:node2→node:bytes']!;
      assert.ok(total < RESPONSE_BYTES, `${total} bytes crossed the wire`);
      const path = await live.mesh.pathCounters();
      assert.equal(path['server-1/sidecar:inbound'], N);
    });
  });
});
