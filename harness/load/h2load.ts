// The reference gRPC driver: h2load (nghttp2, C, Debian's 1.52), closed model only, one
// process per target (connections split by weight, when weighted), gRPC framing by hand
// (`-d` a framed request, `-H content-type: application/grpc`, `-H te: trailers`).
// Latencies come from its --log-file (per request: start µs, :status, µs to the end of the
// response), so the histogram is exact to the µs.
//
// h2load reads :status only, never grpc-status: a call that ends with grpc-status 13 counts
// as a success there. The outcome says so (`grpc.grpcStatusChecked: false`); that is why
// cells use the gRPC driver (grpcDriver.ts), and h2load is the yardstick of its maximum
// rate in bench/driver.ts, which checks the server's statuses with the gRPC driver itself.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadOutcome } from '../results/types.ts';
import { STREAM_PATH, UNARY_PATH, encodeBenchRequest, grpcFrame } from '../workload/grpcMessages.ts';
import type { GrpcFigures } from './grpcDriver.ts';
import type { GrpcLoadSpec } from './grpcSpec.ts';
import { createLatencyHistogram, encodeHistogram, mergeHistograms, recordLatencyUs, summarizeLatencyUs, type LatencyHistogram } from './histogram.ts';
import { runChild } from './process.ts';
import { connectionsPerTarget } from './schedule.ts';
import type { DriverOutcome, DriverRunOptions, LoadTarget } from './types.ts';

export const H2LOAD_PATH = '/usr/bin/h2load';
export const H2LOAD_DRIVER_NAME = 'h2load';

/** What h2load prints at the end, the parts used here. */
export interface H2loadSummary {
  /** "finished in …, N req/s": requests of the main duration per second. */
  rps: number;
  total: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status2xx: number;
  status3xx: number;
  status4xx: number;
  status5xx: number;
}

export function parseH2loadOutput(stdout: string): H2loadSummary {
  const finished = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(stdout);
  const requests = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (!finished || !requests || !codes) throw new Error(`no summary in h2load output:\n${stdout.slice(-1500)}`);
  const n = (s: string | undefined): number => Number(s);
  return {
    rps: n(finished[1]),
    total: n(requests[1]),
    succeeded: n(requests[2]),
    failed: n(requests[3]),
    errored: n(requests[4]),
    timeout: n(requests[5]),
    status2xx: n(codes[1]),
    status3xx: n(codes[2]),
    status4xx: n(codes[3]),
    status5xx: n(codes[4]),
  };
}

/**
 * Reads h2load's --log-file: `start µs since epoch \t :status \t µs to the end` per request of
 * the main duration. Status 0 marks a request that never got a response (not recorded).
 */
export function histogramFromH2loadLog(log: string): { histogram: LatencyHistogram; answered: number; unanswered: number } {
  const histogram = createLatencyHistogram();
  let answered = 0;
  let unanswered = 0;
  for (const line of log.split('\n')) {
    if (line === '') continue;
    const [, status, durationUs] = line.split('\t');
    if (status === '0') {
      unanswered++;
      continue;
    }
    recordLatencyUs(histogram, Number(durationUs));
    answered++;
  }
  return { histogram, answered, unanswered };
}

function targetUrl(t: LoadTarget, method: GrpcLoadSpec['grpc']['method']): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `http://${host}:${t.port}${method === 'unary' ? UNARY_PATH : STREAM_PATH}`;
}

function secondsText(ms: number): string {
  return `${Math.max(1, Math.round(ms))}ms`;
}

export interface H2loadOutcome extends DriverOutcome {
  grpc: Pick<GrpcFigures, 'method' | 'messagesPerStream' | 'streamsPerConnection'> & { grpcStatusChecked: false };
}

/** Runs h2load per target in parallel (connections split as the spec says). */
export async function runH2loadLoad(spec: GrpcLoadSpec, options: DriverRunOptions = {}): Promise<H2loadOutcome> {
  if (spec.model !== 'closed') throw new Error('the h2load driver runs the closed model only');
  const dir = await mkdtemp(path.join(tmpdir(), 'meshbench-h2load-'));
  try {
    const bodyPath = path.join(dir, 'request.bin');
    const message = encodeBenchRequest({
      messages: spec.grpc.method === 'stream' ? spec.grpc.messagesPerStream : 0,
      status: spec.grpc.answerStatus ?? 0,
    });
    await writeFile(bodyPath, grpcFrame(message));
    const perTarget = connectionsPerTarget(spec.connections, spec.targets.length, spec.weights);
    const runs = await Promise.all(
      spec.targets.flatMap((target, k) => (perTarget[k]! > 0 ? [{ target, k }] : [])).map(async ({ target, k }) => {
        const logPath = path.join(dir, `log-${k}.tsv`);
        const argv = [
          ...(options.spawnPrefix ?? []),
          H2LOAD_PATH,
          '-t1',
          `-c${perTarget[k]}`,
          `-m${spec.grpc.streamsPerConnection}`,
          '-D', secondsText(spec.durationMs),
          ...(spec.warmupMs > 0 ? ['--warm-up-time', secondsText(spec.warmupMs)] : []),
          '-d', bodyPath,
          '-H', 'content-type: application/grpc',
          '-H', 'te: trailers',
          '--log-file', logPath,
          targetUrl(target, spec.grpc.method),
        ];
        const result = await runChild(argv, {
          signal: options.signal,
          onSpawn: options.onSpawn,
          deadlineMs: spec.warmupMs + spec.durationMs + 30_000,
        });
        if (result.exitCode !== 0) {
          throw new Error(`h2load failed (exit ${result.exitCode ?? result.signal}): ${result.commandLine}\n${result.stderr.trim() || result.stdout.trim()}`);
        }
        return { summary: parseH2loadOutput(result.stdout), log: histogramFromH2loadLog(await readFile(logPath, 'utf8')) };
      }),
    );
    const sum = (f: (r: (typeof runs)[number]) => number): number => runs.reduce((a, r) => a + f(r), 0);
    const merged = mergeHistograms(runs.map((r) => r.log.histogram));
    const non2xx = sum((r) => r.summary.status3xx + r.summary.status4xx + r.summary.status5xx);
    const answered = sum((r) => r.log.answered);
    const outcome: LoadOutcome = {
      driver: H2LOAD_DRIVER_NAME,
      model: 'closed',
      achievedRps: Math.round(sum((r) => r.summary.rps) * 10) / 10,
      requests: sum((r) => r.summary.status2xx),
      non2xx,
      socketErrors: sum((r) => r.summary.errored + r.summary.timeout),
      connections: spec.connections,
      measuredMs: spec.durationMs,
      saturated: false,
      latencyUs: summarizeLatencyUs(merged),
      histogram: encodeHistogram(merged),
    };
    return {
      ...outcome,
      accounting: {
        // h2load reports the main duration only: the warm-up is not counted anywhere.
        sent: sum((r) => r.summary.total),
        responses: answered,
        warmupResponses: 0,
        lateResponses: 0,
        lost: sum((r) => r.log.unanswered),
        unsent: 0,
        maxBacklog: 0,
        processes: runs.length,
      },
      grpc: {
        method: spec.grpc.method,
        messagesPerStream: spec.grpc.messagesPerStream,
        streamsPerConnection: spec.grpc.streamsPerConnection,
        grpcStatusChecked: false,
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
