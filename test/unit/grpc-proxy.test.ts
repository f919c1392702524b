// gRPC cells' proxies speak HTTP/2 in clear text on both sides and otherwise do the same work
// as for HTTP/1.1; the runner picks server, driver and proxy protocol from one object per protocol.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { renderHaproxyConfig } from '../../harness/proxy/haproxy.ts';
import { speaking } from '../../harness/proxy/protocol.ts';
import { DEFAULT_PROXY_TUNING, type Proxy, type ProxyConfig } from '../../harness/proxy/types.ts';
import { DEFAULT_GRPC_SETTINGS, GRPC_WORKLOAD, HTTP1_WORKLOAD, workloadFor } from '../../harness/runner/protocols.ts';
import { NATIVE_SERVER_PATH } from '../../harness/workload/servers.ts';
import type { Scenario } from '../../harness/scenario/types.ts';

const route = { name: 's1', vip: '198.19.0.1', port: 80, endpoints: [{ ip: '198.18.1.2', port: 8080 }] };
const sidecar: ProxyConfig = { id: 'server-1-sidecar', outbound: { port: 15001, routes: [route] }, inbound: { port: 15006, appPort: 8080 } };
const nodeProxy: ProxyConfig = { id: 'node-proxy', perService: { bindIp: '198.18.0.1', listeners: [{ listenPort: 20001, route }] } };

describe('HAProxy for gRPC: h2c on every bind and server line', () => {
  test('sidecar and node proxy', () => {
    const cfg = renderHaproxyConfig({ ...sidecar, protocol: 'h2' }, '/run/x.sock', DEFAULT_PROXY_TUNING);
    assert.match(cfg, /frontend outbound\n {2}bind 0\.0\.0\.0:15001 proto h2\n/);
    assert.match(cfg, /frontend inbound\n {2}bind 0\.0\.0\.0:15006 proto h2\n/);
    assert.match(cfg, /server app 127\.0\.0\.1:8080 proto h2\n/);
    assert.match(cfg, /server ep0 198\.18\.1\.2:8080 proto h2\n/);
    const node = renderHaproxyConfig({ ...nodeProxy, protocol: 'h2' }, '/run/x.sock', DEFAULT_PROXY_TUNING);
    assert.match(node, /bind 198\.18\.0\.1:20001 proto h2\n/);
    assert.match(node, /server ep0 198\.18\.1\.2:8080 proto h2\n/);
  });

  test('otherwise the same configuration as for HTTP/1.1', () => {
    for (const config of [sidecar, nodeProxy]) {
      const h1 = renderHaproxyConfig(config, '/run/x.sock', DEFAULT_PROXY_TUNING);
      assert.equal(renderHaproxyConfig({ ...config, protocol: 'http1' }, '/run/x.sock', DEFAULT_PROXY_TUNING), h1);
      assert.equal(renderHaproxyConfig({ ...config, protocol: 'h2' }, '/run/x.sock', DEFAULT_PROXY_TUNING).replaceAll(' proto h2', ''), h1);
      assert.doesNotMatch(h1, /proto h2/);
    }
  });

  test('haproxy -c accepts the h2 configurations', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-h2cfg-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const config of [sidecar, nodeProxy]) {
      const path = join(dir, `${config.id}.cfg`);
      writeFileSync(path, renderHaproxyConfig({ ...config, protocol: 'h2' }, join(dir, 'stats.sock'), DEFAULT_PROXY_TUNING));
      execFileSync('haproxy', ['-c', '-q', '-f', path], { stdio: 'pipe', timeout: 10_000 });
    }
  });

  test('speaking() sets the protocol of every proxy a mesh starts, and nothing else', async () => {
    const seen: ProxyConfig[] = [];
    const inner: Proxy = {
      name: 'fake',
      version: async () => '1',
      start: async (_cluster, _where, config) => {
        seen.push(config);
        return undefined as never;
      },
    };
    assert.equal(speaking(inner, 'http1'), inner);
    const h2 = speaking(inner, 'h2');
    assert.equal(h2.name, 'fake');
    await h2.start(undefined as never, undefined as never, sidecar, {});
    assert.deepEqual(seen, [{ ...sidecar, protocol: 'h2' }]);
    assert.equal(sidecar.protocol, undefined);
  });
});

describe('workload kinds', () => {
  const scenario = {
    workload: { responseBytes: 512, delayUs: 2000 },
    load: { driver: 'autocannon' },
    grpc: { method: 'stream', messagesPerStream: 4, streamsPerConnection: 2 },
  } as Scenario;
  const spec = { targets: [{ host: '198.19.0.1', port: 80, path: '/' }], model: 'open' as const, rate: 100, connections: 2, durationMs: 1000, warmupMs: 0 };

  test('one per protocol: server, driver, what the proxies speak', () => {
    assert.equal(workloadFor('http1'), HTTP1_WORKLOAD);
    assert.equal(workloadFor('grpc'), GRPC_WORKLOAD);
    assert.equal(HTTP1_WORKLOAD.proxyProtocol, 'http1');
    assert.equal(GRPC_WORKLOAD.proxyProtocol, 'h2');
    // The native server by default, one binary for both protocols (workload/servers.ts) …
    const args = '--host 0.0.0.0 --port 8080 --response-bytes 512 --delay-us 2000';
    assert.equal(GRPC_WORKLOAD.serverArgv(scenario, 8080).join(' '), `${NATIVE_SERVER_PATH} ${args}`);
    assert.equal(HTTP1_WORKLOAD.serverArgv(scenario, 8080).join(' '), `${NATIVE_SERVER_PATH} ${args}`);
    assert.equal(HTTP1_WORKLOAD.server(scenario).name, 'meshbench-native-server');
    assert.match(GRPC_WORKLOAD.server(scenario).version, /^\d+\.\d+\.\d+ \(nghttp2 \d+\.\d+\.\d+\)$/);
    // … the Node servers with workload.server: node, bundled (workload/serverBundle.ts).
    const node = { ...scenario, workload: { ...scenario.workload, server: 'node' as const } };
    assert.match(GRPC_WORKLOAD.serverArgv(node, 8080).join(' '), /grpcServer-[0-9a-f]+\.mjs --host 0\.0\.0\.0 --port 8080 --response-bytes 512 --delay-us 2000$/);
    assert.match(HTTP1_WORKLOAD.serverArgv(node, 8080).join(' '), /httpServer-[0-9a-f]+\.mjs --host 0\.0\.0\.0 --port 8080 /);
    assert.deepEqual(
      [HTTP1_WORKLOAD.server(node).name, GRPC_WORKLOAD.server(node).name],
      ['meshbench-node-http', 'meshbench-node-grpc'],
    );
  });

  test("the gRPC driver gets the scenario's calls; the HTTP driver the plain spec", () => {
    const grpcArgv = GRPC_WORKLOAD.driverArgv(spec, scenario);
    assert.match(grpcArgv.at(-2)!, /driverMain\.ts$/); // a spec with grpc runs the Node gRPC driver
    assert.deepEqual(JSON.parse(grpcArgv.at(-1)!), { ...spec, grpc: scenario.grpc });
    assert.deepEqual(JSON.parse(GRPC_WORKLOAD.driverArgv(spec, { ...scenario, grpc: undefined }).at(-1)!).grpc, DEFAULT_GRPC_SETTINGS);
    const httpArgv = HTTP1_WORKLOAD.driverArgv(spec, scenario);
    assert.match(httpArgv.at(-2)!, /driverMain\.ts$/);
    assert.deepEqual(JSON.parse(httpArgv.at(-1)!), spec);
    // load.driver native: the one binary for both protocols, the gRPC settings in its spec.
    const native = { ...scenario, load: { ...scenario.load, driver: 'native' as const } };
    const nativeGrpc = GRPC_WORKLOAD.driverArgv(spec, native);
    assert.match(nativeGrpc[0]!, /native\/build\/driver$/);
    assert.deepEqual(JSON.parse(nativeGrpc.at(-1)!).grpc, scenario.grpc);
    assert.match(HTTP1_WORKLOAD.driverArgv(spec, native)[0]!, /native\/build\/driver$/);
  });
});
