// The sidecarless meshes, proven by counters: ambient's node proxy takes every connection in
// TCP mode (its connection counters = the client's connections, no HTTP request parsed) and
// tunnels each over mTLS to its own inbound side (TLS sessions = connections); plaintext is
// the same path without TLS; the waypoint takes every request (its request counter = the
// requests, over one client connection).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { run } from '../../harness/exec.ts';
import { LocalCluster, type Placement } from '../../harness/platform/local/cluster.ts';
import { Haproxy } from '../../harness/proxy/haproxy.ts';
import { bringUp, type LiveCell } from '../../harness/runner/cell.ts';
import type { MeshName, Security } from '../../harness/scenario/types.ts';
import { assertNothingLeft, requestsFromPod, requireRoot, testRun, testScenario } from './helpers.ts';

const CONNECTIONS = 6;
const KEEPALIVE_REQUESTS = 20;

async function withCell(mesh: MeshName, security: Security, check: (live: LiveCell) => Promise<void>): Promise<void> {
  const { runId, state } = testRun();
  const cluster = new LocalCluster(runId, state);
  try {
    const live = await bringUp({ mesh, services: 1, security }, { runId, state, proxy: new Haproxy(), scenario: testScenario() }, cluster);
    await check(live);
  } finally {
    await cluster.down();
    state.close();
  }
}

async function serverRequests(live: LiveCell): Promise<number> {
  const pod = live.servers[0]!;
  const r = await run(process.execPath, ['-e', `fetch('http://${pod.ip}:8080/_meshbench/stats').then(r => r.text()).then(t => console.log(t))`], {
    netns: live.cluster.node.netns,
  });
  return (JSON.parse(r.stdout) as { requests: number }).requests;
}

/** `count` GETs over one keep-alive connection from inside a pod; resolves with the statuses. */
async function keepAliveRequests(cluster: LocalCluster, where: Placement, url: string, count: number): Promise<number[]> {
  const script = `
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    (async () => {
      const statuses = [];
      for (let i = 0; i < ${count}; i++) {
        statuses.push(await new Promise((resolve, reject) => {
          const req = http.get(${JSON.stringify(url)}, { agent, timeout: 3000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', reject);
        }));
      }
      console.log(JSON.stringify(statuses));
      agent.destroy();
    })().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });`;
  const proc = cluster.spawn(where, 'test-keepalive-client', [process.execPath, '-e', script], { cpus: 'driver' });
  const line = await proc.waitForLine((l) => l.startsWith('[') || l.startsWith('{'), 5000 + count * 3000);
  const parsed = JSON.parse(line) as number[] | { error: string };
  if (!Array.isArray(parsed)) throw new Error(`client failed: ${parsed.error}`);
  return parsed;
}

describe('ambient and waypoint', () => {
  before(requireRoot);
  after(assertNothingLeft);

  test('ambient mtls: every connection through the L4 node proxy and its mTLS tunnel, no HTTP parsed', async () => {
    await withCell('ambient', 'mtls', async (live) => {
      const responses = await requestsFromPod(live.cluster, live.client, `http://${live.services[0]!.vip}/`, CONNECTIONS);
      assert.deepEqual(responses.map((r) => r.status), Array(CONNECTIONS).fill(200));
      assert.ok(responses.every((r) => r.peer === `${live.services[0]!.vip}:80`), 'the client still talks to the VIP');
      const c = await live.mesh.pathCounters();
      assert.equal(c['node-proxy:outbound-connections'], CONNECTIONS, JSON.stringify(c));
      assert.equal(c['node-proxy:inbound-connections'], CONNECTIONS);
      assert.equal(c['node-proxy:http-requests'], 0, 'TCP mode: no HTTP request parsed');
      // One TLS session per tunnelled connection: a full handshake first, then resumed (HAProxy caches the session).
      assert.ok(c['node-proxy:inbound-tls-handshakes']! >= 1, JSON.stringify(c));
      assert.equal(c['node-proxy:inbound-tls-handshakes']! + c['node-proxy:inbound-tls-resumed']!, CONNECTIONS, JSON.stringify(c));
      assert.equal(c['node-proxy:inbound-tls-failed'], 0);
      assert.equal(await serverRequests(live), CONNECTIONS);
      assert.equal(live.mesh.components().length, 1, 'one proxy: the node proxy');
    });
  });

  test('ambient plaintext: the same path, the tunnel in clear TCP', async () => {
    await withCell('ambient', 'plaintext', async (live) => {
      const responses = await requestsFromPod(live.cluster, live.client, `http://${live.services[0]!.vip}/`, CONNECTIONS);
      assert.deepEqual(responses.map((r) => r.status), Array(CONNECTIONS).fill(200));
      const c = await live.mesh.pathCounters();
      assert.equal(c['node-proxy:outbound-connections'], CONNECTIONS, JSON.stringify(c));
      assert.equal(c['node-proxy:inbound-connections'], CONNECTIONS);
      assert.equal(c['node-proxy:inbound-tls-handshakes'] ?? 0, 0);
    });
  });

  test('waypoint mtls: every request through the service’s L7 waypoint, between two node-proxy legs', async () => {
    await withCell('waypoint', 'mtls', async (live) => {
      const statuses = await keepAliveRequests(live.cluster, live.client, `http://${live.services[0]!.vip}/`, KEEPALIVE_REQUESTS);
      assert.deepEqual(statuses, Array(KEEPALIVE_REQUESTS).fill(200));
      const c = await live.mesh.pathCounters();
      assert.equal(c['node-proxy:outbound-connections'], 1, JSON.stringify(c));
      assert.equal(c['waypoint-s1:requests'], KEEPALIVE_REQUESTS, 'the waypoint parsed every request');
      assert.equal(c['waypoint-s1:upstream-requests'], KEEPALIVE_REQUESTS);
      assert.equal(c['waypoint-s1:inbound-tls-handshakes'], 1);
      assert.ok(c['waypoint-s1:upstream-tls-handshakes']! >= 1);
      assert.ok(c['node-proxy:inbound-connections']! >= 1 && c['node-proxy:inbound-connections']! < KEEPALIVE_REQUESTS, 'the waypoint pools its upstream connections');
      assert.equal(c['node-proxy:http-requests'], 0);
      assert.equal(await serverRequests(live), KEEPALIVE_REQUESTS);
      assert.deepEqual(live.mesh.components().map((x) => x.role).sort(), ['node-proxy', 'waypoint']);
    });
  });
});
