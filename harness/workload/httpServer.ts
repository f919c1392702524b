// The HTTP workload server: every request → 200 with a prebuilt body of exactly N bytes,
// after an added delay precise to tens of µs (preciseDelay.ts). Keep-alive, no idle timeout.
//
//   node --import tsx harness/workload/httpServer.ts --host H --port P --response-bytes N --delay-us D
//
// prints one JSON line `{"ready":true,"pid":…,"port":…}` on stdout once listening (port 0
// picks a free one), then nothing else on stdout; logs go to stderr. SIGTERM/SIGINT close it.
//
// Control paths (not counted as requests unless said so):
//   GET /_meshbench/stats[?reset=1]  → {requests, peers: {"ip": count}, delay: {...}}
//   GET /_meshbench/status/NNN       → status NNN, same body and delay; counted as a request
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { runServerMain } from './serverCli.ts';
import { createPreciseTimer, nowUs, type PreciseDelayMode, type PreciseTimer } from './preciseDelay.ts';

export interface WorkloadServerOptions {
  host: string;
  port: number;
  responseBytes: number;
  /** Added latency per request, µs; 0 answers at once. */
  delayUs: number;
  /** How the delay is timed (default 'worker'; others for comparison only). */
  delayMode?: PreciseDelayMode;
}

/** Delay error of the responses served: actual − asked, µs. */
export interface DelayErrorSummaryUs {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface WorkloadStats {
  /** Requests served, /_meshbench/stats calls excluded. */
  requests: number;
  /** Requests by remote address (IPv4-mapped IPv6 addresses shown as IPv4). */
  peers: Record<string, number>;
  delay: { delayUs: number; errorUs: DelayErrorSummaryUs } & Record<string, unknown>;
}

export interface WorkloadServer {
  readonly port: number;
  readonly timer: PreciseTimer | undefined;
  stats(reset?: boolean): WorkloadStats;
  close(): Promise<void>;
}

/** Delay error histogram: 1 µs buckets up to 20 ms, then one overflow bucket. */
class DelayErrorRecorder {
  private static readonly LIMIT_US = 20_000;
  private readonly buckets = new Uint32Array(DelayErrorRecorder.LIMIT_US + 1);
  private count = 0;
  private maxUs = 0;

  record(errorUs: number): void {
    const us = errorUs <= 0 ? 0 : Math.round(errorUs);
    this.buckets[us < DelayErrorRecorder.LIMIT_US ? us : DelayErrorRecorder.LIMIT_US]++;
    this.count++;
    if (us > this.maxUs) this.maxUs = us;
  }

  summary(): DelayErrorSummaryUs {
    const at = (p: number): number => {
      if (this.count === 0) return 0;
      const rank = Math.ceil((p / 100) * this.count);
      let seen = 0;
      for (let us = 0; us < this.buckets.length; us++) {
        seen += this.buckets[us];
        if (seen >= rank) return us === DelayErrorRecorder.LIMIT_US ? this.maxUs : us;
      }
      return this.maxUs;
    };
    return { count: this.count, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: this.maxUs };
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.maxUs = 0;
  }
}

function peerAddress(socket: { remoteAddress?: string }): string {
  const a = socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export async function startWorkloadServer(options: WorkloadServerOptions): Promise<WorkloadServer> {
  const { responseBytes, delayUs } = options;
  const body = Buffer.alloc(responseBytes, 'x');
  const contentLength = String(responseBytes);
  const timer = delayUs > 0 ? await createPreciseTimer({ mode: options.delayMode ?? 'worker' }) : undefined;
  const delayError = new DelayErrorRecorder();
  let requests = 0;
  let peers = new Map<string, number>();

  const stats = (reset = false): WorkloadStats => {
    const result: WorkloadStats = {
      requests,
      peers: Object.fromEntries(peers),
      delay: { delayUs, ...(timer?.details ?? {}), errorUs: delayError.summary() },
    };
    if (reset) {
      requests = 0;
      peers = new Map();
      delayError.reset();
    }
    return result;
  };

  const respond = (res: http.ServerResponse, status: number): void => {
    res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': contentLength });
    res.end(body);
  };

  const server = http.createServer({ noDelay: true }, (req, res) => {
    const url = req.url ?? '/';
    let status = 200;
    if (url.startsWith('/_meshbench/')) {
      if (url === '/_meshbench/stats' || url.startsWith('/_meshbench/stats?')) {
        const json = JSON.stringify(stats(url.includes('reset=1')));
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
        res.end(json);
        return;
      }
      const m = /^\/_meshbench\/status\/(\d{3})$/.exec(url);
      if (m) status = Number(m[1]);
    }
    requests++;
    const peer = peerAddress(req.socket);
    peers.set(peer, (peers.get(peer) ?? 0) + 1);
    if (timer === undefined) {
      respond(res, status);
      return;
    }
    timer.fireDue();
    const dueUs = nowUs() + delayUs;
    timer.schedule(delayUs, () => {
      delayError.record(nowUs() - dueUs);
      respond(res, status);
    });
  });
  // No idle timeout on keep-alive connections: a driver at a low rate over many
  // connections must not see them closed under it.
  server.keepAliveTimeout = 0;
  server.maxRequestsPerSocket = 0;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;

  return {
    port,
    timer,
    stats,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await timer?.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runServerMain('httpServer', startWorkloadServer, (server, options) => (server.timer ? `delay ${options.delayUs} µs, ${JSON.stringify(server.timer.details)}` : undefined));
}
