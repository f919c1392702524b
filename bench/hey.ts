// hey (Go, Debian) as the independent reference driver of the tail benchmarks
// (bench/tail.ts, bench/server.ts): run in a pod on the driver's CPU, paced by -q per worker
// (rate / connections each), its CSV read back. hey measures from its own send and writes
// response times with 0.1 ms resolution, so its p50 reads in steps of 100 µs; its warm-up is
// the first seconds of a longer run, dropped by each request's completion time.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLatencyHistogram, recordLatencyUs, summarizeLatencyUs } from '../harness/load/histogram.ts';
import type { LocalCluster, Pod } from '../harness/platform/local/cluster.ts';

export interface TailFigures {
  p50: number;
  p99: number;
  p999: number;
  count: number;
  /** What else the row says: achieved rate, errors, resolution. */
  note: string;
}

/** hey's CSV: response-time (s, 4 decimals), …, status-code, offset (s since its start). */
export function heyFigures(csv: string, warmupS: number, windowS: number): TailFigures {
  const histogram = createLatencyHistogram();
  let errors = 0;
  let inWindow = 0;
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    if (f.length < 8 || f[0] === 'response-time') continue;
    const offset = Number(f[7]);
    // The request's end, as the other drivers count a response: by its completion time.
    const end = offset + Number(f[0]);
    if (end < warmupS || end >= warmupS + windowS) continue;
    inWindow++;
    if (!/^2\d\d$/.test(f[6]!.trim())) errors++;
    recordLatencyUs(histogram, Number(f[0]) * 1e6);
  }
  const s = summarizeLatencyUs(histogram);
  return { p50: s.p50, p99: s.p99, p999: s.p999, count: s.count, note: `${(inWindow / windowS).toFixed(1)} req/s, errors ${errors}, 0.1 ms resolution` };
}

export interface HeyRun {
  rate: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Where the CSV goes. */
  dir: string;
  signal: AbortSignal;
}

/** hey from `client` to http://target:port/ for warm-up + duration; figures of the measured window. */
export async function heyInPod(cluster: LocalCluster, client: Pod, target: Pod, port: number, o: HeyRun): Promise<TailFigures> {
  const out = join(o.dir, `hey-${target.name}.csv`);
  const seconds = (o.warmupMs + o.durationMs) / 1000;
  const perWorker = o.rate / o.connections;
  const proc = cluster.spawn(
    client,
    'hey',
    ['sh', '-c', 'out=$1; shift; exec hey "$@" > "$out"', 'sh', out, '-z', `${seconds}s`, '-q', String(perWorker), '-c', String(o.connections), '-o', 'csv', `http://${target.ip}:${port}/`],
    { cpus: 'driver' },
  );
  const stop = (): void => void proc.stop();
  o.signal.addEventListener('abort', stop, { once: true });
  try {
    const end = await Promise.race([proc.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), seconds * 1000 + 30_000))]);
    if (end === 'late') throw new Error('hey did not finish in time');
    if (end.code !== 0) throw new Error(`hey exited ${end.code ?? end.signal}: ${proc.stderrTail()}`);
    const f = heyFigures(await readFile(out, 'utf8'), o.warmupMs / 1000, o.durationMs / 1000);
    if (f.count === 0) throw new Error(`hey measured nothing: ${proc.stderrTail()}`);
    return f;
  } finally {
    o.signal.removeEventListener('abort', stop);
    await proc.stop();
  }
}
