// Pure parts of the local platform and the data paths: names, the address plan, the
// iptables rules and the proxy configuration each mesh generates.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderServiceDnatRules } from '../../harness/mesh/baseline.ts';
import { renderCaptureRules, serviceRoutes } from '../../harness/mesh/sidecar.ts';
import type { Service } from '../../harness/mesh/types.ts';
import type { Pod } from '../../harness/platform/local/cluster.ts';
import { chainName, newRunId, podIp, runIdOfNetns, netnsName, serviceVip, vethName } from '../../harness/platform/local/names.ts';
import { parseHaproxyStats, renderHaproxyConfig } from '../../harness/proxy/haproxy.ts';
import { DEFAULT_PROXY_TUNING } from '../../harness/proxy/types.ts';

const pod = (name: string, index: number): Pod => ({
  name, role: 'server', index, ip: podIp(index), netns: `mb-abcde-${name}`, cgroupV2: '', cgroupV1Memory: '',
});

describe('names and addresses', () => {
  test('run ids are 5 base-36 characters and resource names stay within kernel limits', () => {
    const id = newRunId();
    assert.match(id, /^[0-9a-z]{5}$/);
    assert.ok(vethName(id, 249_999).length <= 15, 'IFNAMSIZ');
    assert.ok(chainName(id, 'SERVICES').length <= 28, 'iptables chain name limit');
    assert.equal(runIdOfNetns(netnsName(id, 'server-12')), id);
    assert.equal(runIdOfNetns('mb-toolong-x'), undefined);
  });

  test('pods live in 198.18/16 and VIPs in 198.19/16, never elsewhere', () => {
    assert.equal(podIp(0), '198.18.1.1');
    assert.equal(podIp(250), '198.18.2.1');
    assert.equal(serviceVip(1), '198.19.0.1');
    assert.equal(serviceVip(300), '198.19.1.44');
    for (let i = 0; i < 2000; i += 7) assert.match(podIp(i), /^198\.18\.\d+\.\d+$/);
    assert.throws(() => serviceVip(0), RangeError);
    assert.throws(() => podIp(-1), RangeError);
  });
});

describe('baseline DNAT rules', () => {
  test('random choice among endpoints with kube-proxy probabilities', () => {
    const services: Service[] = [{ name: 's1', index: 1, vip: '198.19.0.1', port: 80, targetPort: 8080, endpoints: [pod('a', 0), pod('b', 1), pod('c', 2)] }];
    const rules = renderServiceDnatRules('abcde', services);
    assert.match(rules, /^\*nat\n:MB-abcde-SERVICES - \[0:0\]\n-A PREROUTING -d 198\.19\.0\.0\/16 -j MB-abcde-SERVICES\n/);
    const dnat = rules.split('\n').filter((l) => l.includes('DNAT'));
    assert.equal(dnat.length, 3);
    assert.match(dnat[0]!, /--probability 0\.33333 .*--to-destination 198\.18\.1\.1:8080/);
    assert.match(dnat[1]!, /--probability 0\.50000 .*--to-destination 198\.18\.1\.2:8080/);
    assert.doesNotMatch(dnat[2]!, /probability/);
    assert.ok(rules.trimEnd().endsWith('COMMIT'));
  });
});

describe('sidecar capture rules', () => {
  test('outbound REDIRECT to 15001 after the proxy uid and loopback are excluded; inbound to 15006', () => {
    const rules = renderCaptureRules('abcde').split('\n');
    const out = rules.filter((l) => l.startsWith('-A MB-abcde-OUTBOUND'));
    assert.deepEqual(out, [
      '-A MB-abcde-OUTBOUND -m owner --uid-owner 1337 -j RETURN',
      '-A MB-abcde-OUTBOUND -d 127.0.0.0/8 -j RETURN',
      '-A MB-abcde-OUTBOUND -p tcp -j REDIRECT --to-ports 15001',
    ]);
    assert.ok(rules.includes('-A MB-abcde-INBOUND -p tcp -j REDIRECT --to-ports 15006'));
  });
});

describe('HAProxy configuration', () => {
  const services: Service[] = [
    { name: 's1', index: 1, vip: '198.19.0.1', port: 80, targetPort: 8080, endpoints: [pod('server-1', 1)] },
    { name: 's2', index: 2, vip: '198.19.0.2', port: 80, targetPort: 8080, endpoints: [pod('server-2', 2)] },
  ];

  test('sidecar: routes by original destination, inbound to the local app, same tuning everywhere', () => {
    const cfg = renderHaproxyConfig(
      { id: 'client-1-sidecar', outbound: { port: 15001, routes: serviceRoutes(services) }, inbound: { port: 15006, appPort: 8080 } },
      '/run/x.sock',
      DEFAULT_PROXY_TUNING,
    );
    assert.match(cfg, /nbthread 1\n/);
    assert.match(cfg, /maxconn 4096\n/);
    assert.match(cfg, /mode http\n/);
    assert.match(cfg, /http-reuse always\n/);
    assert.match(cfg, /use_backend svc-s2 if \{ dst 198\.19\.0\.2 \} \{ dst_port 80 \}/);
    assert.match(cfg, /backend local-app\n {2}server app 127\.0\.0\.1:8080/);
    assert.match(cfg, /backend svc-s1\n {2}balance random\n {2}server ep0 198\.18\.1\.2:8080/);
  });

  test('node proxy: one listener per service on the node address', () => {
    const cfg = renderHaproxyConfig(
      {
        id: 'node-proxy',
        perService: { bindIp: '198.18.0.1', listeners: serviceRoutes(services).map((route, i) => ({ listenPort: 20001 + i, route })) },
      },
      '/run/x.sock',
      DEFAULT_PROXY_TUNING,
    );
    assert.match(cfg, /frontend listen-s1\n {2}bind 198\.18\.0\.1:20001\n {2}default_backend svc-s1/);
    assert.match(cfg, /frontend listen-s2\n {2}bind 198\.18\.0\.1:20002/);
    assert.doesNotMatch(cfg, /frontend outbound/);
  });

  test('stats CSV becomes request counters per listener and upstream', () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot',
      'outbound,FRONTEND,,,0,2,4096,12,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,2,,,,0,10,0,0,0,0,,0,2,10',
      'listen-s1,FRONTEND,,,0,2,4096,7,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,2,,,,0,7,0,0,0,0,,0,2,7',
      'svc-s1,ep0,0,0,0,1,,10,0,0,,0,,0,0,0,0,UP,1,1,0,,,,,,1,3,1,,10,,2,0,,1,,,,0,10,0,0,0,0,,,,',
      'svc-s1,BACKEND,0,0,0,1,410,10,0,0,0,0,,0,0,0,0,UP,1,1,0,,,,,,1,3,0,,10,,1,0,,1,,,,0,10,0,0,0,0,,,,10',
    ].join('\n');
    assert.deepEqual(parseHaproxyStats(csv), {
      requestsByListener: { outbound: 10, s1: 7 },
      requestsByUpstream: { s1: 10 },
      connectionsByListener: { outbound: 12, s1: 7 },
    });
  });
});
