// HAProxy as the mesh proxy: HTTP mode (it parses every request), keep-alive to clients and
// to upstreams with a shared connection pool (`http-reuse always`), one thread, the same
// timeouts everywhere. The original destination of a REDIRECTed connection comes from
// SO_ORIGINAL_DST, which HAProxy's `dst`/`dst_port` fetches return (built with NETFILTER).
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { run } from '../exec.ts';
import { waitForStatsSocket } from './ready.ts';
import {
  DEFAULT_PROXY_TUNING, type Endpoint, type Proxy, type ProxyConfig, type ProxyHost, type ProxyPlacement, type ProxyStats, type ProxyTuning, type RunningProxy,
  type ServiceRoute,
} from './types.ts';

const backendName = (route: ServiceRoute): string => `svc-${route.name}`;

export function renderHaproxyConfig(config: ProxyConfig, statsSocket: string, tuning: ProxyTuning): string {
  // h2c both sides (gRPC): `proto h2` on every bind and server line; the rest is the same work.
  const proto = config.protocol === 'h2' ? ' proto h2' : '';
  const tls = config.tls;
  // mtls: TLS 1.3 only; the peer's certificate must chain to the run's CA on both sides.
  const bindTls = tls?.inbound ? ` ssl crt ${tls.certFile} ca-file ${tls.caFile} verify required` : '';
  const serverTls = (e: Endpoint): string =>
    tls?.upstream
      ? ` ssl verify required ca-file ${tls.caFile} crt ${tls.certFile}${e.tlsName ? ` sni str(${e.tlsName}) verifyhost ${e.tlsName}` : ''}`
      : '';
  const lines: string[] = [
    'global',
    `  maxconn ${tuning.maxConnections}`,
    `  nbthread ${tuning.threads}`,
    `  stats socket ${statsSocket} mode 600 level operator`,
    '  hard-stop-after 3s',
    ...(tls ? ['  ssl-default-bind-options ssl-min-ver TLSv1.3', '  ssl-default-server-options ssl-min-ver TLSv1.3'] : []),
    '',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  http-reuse always',
    `  timeout connect ${tuning.connectTimeoutMs}ms`,
    `  timeout client ${tuning.idleTimeoutMs}ms`,
    `  timeout server ${tuning.idleTimeoutMs}ms`,
    `  timeout http-keep-alive ${tuning.idleTimeoutMs}ms`,
    '  timeout http-request 10s',
    '',
  ];
  const routes = new Map<string, ServiceRoute>();
  if (config.outbound) {
    lines.push('frontend outbound', `  bind 0.0.0.0:${config.outbound.port}${proto}`);
    for (const route of config.outbound.routes) {
      routes.set(route.name, route);
      lines.push(`  use_backend ${backendName(route)} if { dst ${route.vip} } { dst_port ${route.port} }`);
    }
    lines.push('');
  }
  if (config.inbound) {
    lines.push(
      'frontend inbound',
      `  bind 0.0.0.0:${config.inbound.port}${proto}${bindTls}`,
      '  default_backend local-app',
      '',
      'backend local-app',
      `  server app 127.0.0.1:${config.inbound.appPort}${proto}`,
      '',
    );
  }
  if (config.perService) {
    for (const { listenPort, route } of config.perService.listeners) {
      routes.set(route.name, route);
      lines.push(
        `frontend listen-${route.name}`,
        `  bind ${config.perService.bindIp}:${listenPort}${proto}${bindTls}`,
        `  default_backend ${backendName(route)}`,
        '',
      );
    }
  }
  for (const route of routes.values()) {
    lines.push(`backend ${backendName(route)}`, '  balance random');
    route.endpoints.forEach((e, i) => lines.push(`  server ep${i} ${e.ip}:${e.port}${proto}${serverTls(e)}`));
    lines.push('');
  }
  return lines.join('\n');
}

/** Parses `show stat` CSV into request counters per frontend and backend. */
export function parseHaproxyStats(csv: string): ProxyStats {
  const rows = csv.split('\n').filter((l) => l.trim() !== '');
  const header = rows.shift()?.replace(/^# /, '').split(',') ?? [];
  const col = (name: string): number => header.indexOf(name);
  const [pxname, svname, reqTot, stot] = [col('pxname'), col('svname'), col('req_tot'), col('stot')];
  // HAProxy's SSL stats module (2.4+): per frontend and backend.
  const [sslSess, sslReused, sslFailed] = [col('ssl_sess'), col('ssl_reused_sess'), col('ssl_failed_handshake')];
  const stats: ProxyStats = { requestsByListener: {}, requestsByUpstream: {}, connectionsByListener: {} };
  if (sslSess >= 0) Object.assign(stats, { tlsByListener: {}, tlsByUpstream: {} });
  for (const row of rows) {
    const f = row.split(',');
    const proxyName = f[pxname]!.replace(/^listen-/, '');
    const tls = () => ({ handshakes: Number(f[sslSess] || 0), resumed: Number(f[sslReused] || 0), failed: Number(f[sslFailed] || 0) });
    if (f[svname] === 'FRONTEND') {
      stats.requestsByListener[proxyName] = Number(f[reqTot] || 0);
      stats.connectionsByListener![proxyName] = Number(f[stot] || 0);
      if (sslSess >= 0) stats.tlsByListener![proxyName] = tls();
    }
    if (f[svname] === 'BACKEND') {
      stats.requestsByUpstream[proxyName.replace(/^svc-/, '')] = Number(f[stot] || 0);
      if (sslSess >= 0) stats.tlsByUpstream![proxyName.replace(/^svc-/, '')] = tls();
    }
  }
  return stats;
}

export function statsCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath });
    let out = '';
    socket.setTimeout(3000, () => socket.destroy(new Error(`no answer from ${socketPath}`)));
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (d) => (out += d.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

export class Haproxy implements Proxy {
  readonly name = 'haproxy';

  async version(): Promise<string> {
    const r = await run('haproxy', ['-v']);
    return /version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
  }

  async start(
    host: ProxyHost,
    where: ProxyPlacement,
    config: ProxyConfig,
    options: { uid?: number; tuning?: ProxyTuning },
  ): Promise<RunningProxy> {
    // Unix socket paths are limited to 108 bytes, so the proxy's files live under /run.
    const dir = host.proxyDir(config.id);
    if (options.uid !== undefined) chownSync(dir, options.uid, options.uid);
    const statsSocket = join(dir, 'stats.sock');
    const configPath = join(dir, 'haproxy.cfg');
    writeFileSync(configPath, renderHaproxyConfig(config, statsSocket, options.tuning ?? DEFAULT_PROXY_TUNING));
    const proc = host.spawn(where, config.id, ['haproxy', '-db', '-f', configPath], {
      cpus: 'pods',
      uid: options.uid,
    });
    await waitForStatsSocket(statsSocket, proc, 10_000); // every listener bound (ready.ts)
    return {
      config,
      process: proc,
      stats: async () => parseHaproxyStats(await statsCommand(statsSocket, 'show stat')),
    };
  }
}
