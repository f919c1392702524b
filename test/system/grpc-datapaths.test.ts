// gRPC through each data path, the path proven by the same counters as the HTTP tests
// (datapaths.test.ts): baseline — the node's DNAT of each connection; sidecar — both
// sidecars counted every call, run as uid 1337; ebpf — connect4 rewrote each connection to
// the node proxy, which counted every call, no iptables rule anywhere; ebpf-l4 — no proxy
// process, the server saw the client pod. Calls come from grpc-js (a standard gRPC client)
// and from the load driver's own HTTP/2 client. HTTP/2 end to end is proven by the ends:
// both clients speak only prior-knowledge h2c and the grpc-js server only HTTP/2, so a
// proxy that fell back to HTTP/1.1 on either side would fail every call.
// Then a server answering a non-OK grpc-status, through every path: the driver counts every
// such call as an error, never as a success, and the server agrees on the count.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import { SockLb } from '../../harness/mesh/sockLb.ts';
import { bpfPinDir } from '../../harness/platform/local/names.ts';
import type { LiveCell } from '../../harness/runner/cell.ts';
import type { MeshName } from '../../harness/scenario/types.ts';
import { GRPC_STATUS } from '../../harness/workload/grpcMessages.ts';
import { grpcCallsFromPod, grpcDriverInPod, grpcServerStats } from './grpc-helpers.ts';
import { iptablesRuleCount, processNamesInNetns, withCell } from './datapath-helpers.ts';
import { assertNothingLeft, requireRoot, testScenario } from './helpers.ts';

const SERVICES = 2;
const CALLS = 5;
const STREAM_MESSAGES = 3;
/** Each service gets CALLS unary + CALLS streaming calls from each of the two clients. */
const CALLS_PER_SERVICE = 4 * CALLS;
/** …over four connections: one per client in each of the two passes (unary, stream). */
const CONNECTIONS_PER_SERVICE = 4;

async function withGrpcCell(mesh: MeshName, check: (live: LiveCell) => Promise<void>): Promise<void> {
  const scenario = testScenario({ protocols: ['grpc'], grpc: { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1 } });
  await withCell({ mesh, services: SERVICES, protocol: 'grpc' }, async (live) => {
    assert.equal(live.workload.protocol, 'grpc');
    await check(live);
  }, scenario);
}

/** Unary and streaming calls to every service from the client pod; every one answered OK, to the VIP. */
async function callEveryService(live: LiveCell): Promise<void> {
  for (const service of live.services) {
    const target = `${service.vip}:${service.port}`;
    for (const method of ['unary', 'stream'] as const) {
      const messages = method === 'unary' ? 1 : STREAM_MESSAGES;
      const calls = await grpcCallsFromPod(live.cluster, live.client, target, { count: CALLS, method, messages });
      assert.deepEqual(calls.grpcJs, Array.from({ length: CALLS }, () => ({ code: 0, replies: messages, bytes: messages * 1024 })), `${method} via grpc-js to ${target}`);
      assert.deepEqual(calls.meshbench.calls, Array.from({ length: CALLS }, () => ({ status: '0', replies: messages })), `${method} via the driver's client to ${target}`);
      // Whatever the path, the client believes it talks to the VIP (getpeername4 for eBPF).
      assert.match(calls.meshbench.peer, new RegExp(`^${target.replace(/\./g, '\\.')}$`));
    }
  }
}

describe('gRPC data paths', () => {
  before(requireRoot);
  afterEach(assertNothingLeft);
  after(assertNothingLeft);

  test('baseline: iptables DNAT on the node for each connection, the server sees the client pod', async () => {
    await withGrpcCell('baseline', async (live) => {
      await callEveryService(live);
      const counters = await live.mesh.pathCounters();
      for (const s of live.services) assert.equal(counters[`dnat-connections:${s.name}`], CONNECTIONS_PER_SERVICE, s.name);
      for (let i = 0; i < SERVICES; i++) {
        const stats = await grpcServerStats(live, i);
        assert.deepEqual(stats.peers, { [live.client.ip]: CALLS_PER_SERVICE });
        assert.deepEqual(stats.methods, { unary: 2 * CALLS, stream: 2 * CALLS });
        assert.deepEqual(stats.statuses, { 0: CALLS_PER_SERVICE });
      }
      assert.equal(live.mesh.components().length, 0);
    });
  });

  test('sidecar: client sidecar → server sidecar → server in HTTP/2, both sidecars count every call', async () => {
    await withGrpcCell('sidecar', async (live) => {
      await callEveryService(live);
      const counters = await live.mesh.pathCounters();
      assert.equal(counters['client-1/sidecar:outbound'], SERVICES * CALLS_PER_SERVICE);
      for (const pod of live.servers) assert.equal(counters[`${pod.name}/sidecar:inbound`], CALLS_PER_SERVICE, pod.name);
      // The server app saw only its own sidecar (loopback), never the client directly.
      for (let i = 0; i < SERVICES; i++) assert.deepEqual((await grpcServerStats(live, i)).peers, { '127.0.0.1': CALLS_PER_SERVICE });
      const components = live.mesh.components();
      assert.equal(components.length, 1 + SERVICES);
      for (const c of components) assert.match(readFileSync(`/proc/${c.pid}/status`, 'utf8'), /^Uid:\s+1337\s/m);
      assert.equal(await iptablesRuleCount(live.cluster.node, live.cluster), 0);
      assert.ok((await iptablesRuleCount(live.client, live.cluster)) > 0);
    });
  });

  test('ebpf: connect4 rewrites each connection to the node proxy, which counts every call; no iptables rules', async () => {
    await withGrpcCell('ebpf', async (live) => {
      await callEveryService(live);
      for (const where of [live.cluster.node, live.client, ...live.servers]) {
        assert.equal(await iptablesRuleCount(where, live.cluster), 0, `iptables rules in ${where.name}`);
      }
      const lb = new SockLb(bpfPinDir(live.cluster.runId, 'socklb'), live.cluster.cgroupV2Root);
      assert.deepEqual((await lb.attachedTo()).sort(), ['socklb_connect4', 'socklb_getpeer4']);
      const counters = await live.mesh.pathCounters();
      for (const s of live.services) {
        assert.equal(counters[`node-proxy:${s.name}`], CALLS_PER_SERVICE, s.name);
        assert.equal(counters[`bpf-connect4-rewrites:${s.vip}:${s.port}`], CONNECTIONS_PER_SERVICE, s.name);
      }
      for (let i = 0; i < SERVICES; i++) assert.deepEqual((await grpcServerStats(live, i)).peers, { [live.cluster.node.ip]: CALLS_PER_SERVICE });
      assert.deepEqual(live.mesh.components().map((c) => c.role), ['node-proxy']);
    });
  });

  test('ebpf-l4: connect4 straight to the backend; no proxy process, the server sees the client pod', async () => {
    await withGrpcCell('ebpf-l4', async (live) => {
      await callEveryService(live);
      const counters = await live.mesh.pathCounters();
      for (const s of live.services) assert.equal(counters[`bpf-connect4-rewrites:${s.vip}:${s.port}`], CONNECTIONS_PER_SERVICE, s.name);
      for (let i = 0; i < SERVICES; i++) assert.deepEqual((await grpcServerStats(live, i)).peers, { [live.client.ip]: CALLS_PER_SERVICE });
      assert.equal(live.mesh.components().length, 0);
      for (const netns of [live.cluster.node.netns, live.client.netns, ...live.servers.map((p) => p.netns)]) {
        assert.ok(!(await processNamesInNetns(netns)).includes('haproxy'), `a proxy runs in ${netns}`);
      }
      for (const where of [live.cluster.node, live.client, ...live.servers]) assert.equal(await iptablesRuleCount(where, live.cluster), 0);
    });
  });

  for (const mesh of ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'] as const) {
    test(`${mesh}: a server answering grpc-status INTERNAL is counted as errors, call for call`, async () => {
      await withGrpcCell(mesh, async (live) => {
        // Every path carries the status back (trailers-only through the proxies too) …
        const calls = await grpcCallsFromPod(live.cluster, live.client, `${live.services[0]!.vip}:80`, { count: 2, status: GRPC_STATUS.INTERNAL });
        assert.deepEqual(calls.grpcJs.map((c) => c.code), [GRPC_STATUS.INTERNAL, GRPC_STATUS.INTERNAL]);
        assert.deepEqual(calls.meshbench.calls.map((c) => c.status), ['13', '13']);
        for (let i = 0; i < SERVICES; i++) await grpcServerStats(live, i, true);
        // … and the driver counts each such call as an error: none as a success.
        const outcome = await grpcDriverInPod(live, {
          targets: live.services.map((s) => ({ host: s.vip, port: s.port, path: '/' })),
          model: 'open',
          rate: 200,
          connections: SERVICES,
          durationMs: 1500,
          warmupMs: 0,
          grpc: { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1, answerStatus: GRPC_STATUS.INTERNAL },
        });
        assert.equal(outcome.requests, 0);
        assert.ok(outcome.non2xx >= 250, `${outcome.non2xx} errors counted in 1.5 s at 200 calls/s`);
        assert.equal(outcome.socketErrors, 0);
        assert.deepEqual(outcome.grpc.statuses, { 13: outcome.non2xx });
        // Every answer the driver got, the servers gave, each with status 13.
        let served = 0;
        for (let i = 0; i < SERVICES; i++) {
          const stats = await grpcServerStats(live, i);
          assert.deepEqual(Object.keys(stats.statuses), ['13']);
          served += stats.calls;
        }
        assert.equal(served, outcome.accounting.responses);
        assert.equal(outcome.accounting.lost, 0);
      });
    });
  }
});
