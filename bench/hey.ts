// What the tail benchmarks (bench/tail.ts, bench/server.ts) share: nginx in a pod, rows run
// in interleaved rounds, and hey (Go, Debian) as the independent reference driver: run in a
// pod on the driver's CPU, paced by -q per worker
// (rate / connections each), its CSV read back. hey measures from its own send and writes
// response times with 0.1 ms resolution, so its p50 reads in steps of 100 µs; its warm-up is
// the first seconds of a longer run, dropped by each request's completion time.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLatencyHistogram, recordLatencyUs, summarizeLatencyUs } from '../harness/load/histogram.ts';
import type { LocalCluster, Pod } from '../harness/platform/local/cluster.ts';
import { NGINX, nginxHttpConfig } from './lib.ts';

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

export const formatUs = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${Math.round(v)} µs`);

export type TailPercentile = 'p50' | 'p99' | 'p999';

export interface TailRow {
  name: string;
  run: () => Promise<TailFigures>;
}

/**
 * Runs every row once per round, the order rotated each round so that slow drift of the
 * host hits all rows alike, logging each result; the figures by row name, in round order.
 */
export async function interleavedRounds(
  rows: readonly TailRow[],
  rounds: number,
  o: { stopped: () => boolean; log: (line: string) => void; nameWidth: number },
): Promise<Map<string, TailFigures[]>> {
  const results = new Map<string, TailFigures[]>(rows.map((r) => [r.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < rows.length; i++) {
      if (o.stopped()) throw new Error('interrupted');
      const row = rows[(i + round) % rows.length]!;
      const f = await row.run();
      results.get(row.name)!.push(f);
      o.log(
        `round ${round + 1}  ${row.name.padEnd(o.nameWidth)} p50 ${formatUs(f.p50).padStart(9)}  p99 ${formatUs(f.p99).padStart(9)}  ` +
          `p99.9 ${formatUs(f.p999).padStart(9)}  (${f.count} responses; ${f.note})`,
      );
    }
  }
  return results;
}

/** "median (min–max)" of one percentile over rounds. */
export function spreadText(figures: readonly TailFigures[], k: TailPercentile, median: (xs: number[]) => number): string {
  const xs = figures.map((f) => f[k]);
  return `${formatUs(median(xs))} (${formatUs(Math.min(...xs))}–${formatUs(Math.max(...xs))})`;
}

/** nginx answering 200 + `BODY_BYTES` in `pod` on 0.0.0.0:port (config and logs in `dir`), on the pods' CPUs. */
export async function startNginxPod(cluster: LocalCluster, pod: Pod, dir: string, port: number): Promise<number> {
  await writeFile(join(dir, 'nginx.conf'), nginxHttpConfig(dir, `0.0.0.0:${port}`));
  const nginx = cluster.spawn(pod, 'nginx', [NGINX, '-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], { cpus: 'pods' });
  await cluster.waitForListen(pod, pod.ip, port, 10_000, nginx);
  return nginx.pid;
}

/**
 * On-CPU time of a process, µs, summed over its threads (/proc/<pid>/task/<tid>/schedstat:
 * ns, unlike /proc/<pid>/stat's 10 ms ticks); undefined once it is gone.
 */
export async function processOnCpuUs(pid: number): Promise<number | undefined> {
  try {
    let ns = 0;
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      ns += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')).split(' ')[0]);
    }
    return ns / 1000;
  } catch {
    return undefined;
  }
}
