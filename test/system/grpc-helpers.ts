// gRPC pieces of the system tests: calls from inside a pod (in its cgroup, so the eBPF socket
// LB sees them), the server's counters asked straight at a pod address, and the gRPC
// driver run in the client pod with any spec.
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '../../harness/exec.ts';
import { GRPC_DRIVER_NAME, type GrpcDriverOutcome } from '../../harness/load/grpcDriver.ts';
import type { GrpcLoadSpec } from '../../harness/load/grpcSpec.ts';
import type { LocalCluster, Placement } from '../../harness/platform/local/cluster.ts';
import type { LiveCell } from '../../harness/runner/cell.ts';
import { decodeStatsReply, encodeStatsRequest, STATS_PATH } from '../../harness/workload/grpcMessages.ts';
import { GRPC_COMMON_OPTIONS, type GrpcWorkloadStats } from '../../harness/workload/grpcServer.ts';
import { TSX_LOADER as TSX } from '../../harness/tsx.ts';

const POD_CLIENT = fileURLToPath(new URL('./grpcPodClient.ts', import.meta.url));
const GRPC_DRIVER_MAIN = fileURLToPath(new URL('../../harness/load/grpcDriverMain.ts', import.meta.url));

export interface PodCalls {
  /** grpc-js: status code, replies and payload bytes per call. */
  grpcJs: Array<{ code: number; replies: number; bytes: number }>;
  /** The driver's HTTP/2 client: what getpeername() said, and each call's grpc-status and replies. */
  meshbench: { peer: string; calls: Array<{ status: string; replies: number }> };
}

export interface CallOptions {
  count: number;
  method?: 'unary' | 'stream';
  messages?: number;
  status?: number;
}

/**
 * `count` calls with grpc-js (one connection) and `count` with the driver's HTTP/2 client
 * (one more connection) from inside a pod. Bounded: 3 s per call.
 */
export async function grpcCallsFromPod(cluster: LocalCluster, where: Placement, target: string, o: CallOptions): Promise<PodCalls> {
  const argv = [
    process.execPath, '--import', TSX, POD_CLIENT, 'calls', target,
    '--count', String(o.count),
    '--method', o.method ?? 'unary',
    '--messages', String(o.messages ?? 1),
    '--status', String(o.status ?? 0),
  ];
  const proc = cluster.spawn(where, 'test-grpc-client', argv, { cpus: 'driver' });
  const line = await proc.waitForLine((l) => l.startsWith('{'), 15_000 + 2 * o.count * 3000);
  const parsed = JSON.parse(line) as PodCalls | { error: string };
  if ('error' in parsed) throw new Error(`gRPC client in ${where.name} failed: ${parsed.error}`);
  return parsed;
}

/** The server app's counters, asked from the node netns straight at the pod address (no VIP, no socket LB). */
export async function grpcServerStats(live: LiveCell, podIndex: number, reset = false): Promise<GrpcWorkloadStats> {
  const pod = live.servers[podIndex]!;
  const r = await run(process.execPath, ['--import', TSX, POD_CLIENT, 'stats', `${pod.ip}:8080`, ...(reset ? ['--reset'] : [])], {
    netns: live.cluster.node.netns,
    timeoutMs: 20_000,
  });
  const parsed = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as GrpcWorkloadStats | { error: string };
  if ('error' in parsed) throw new Error(`stats of ${pod.name}: ${parsed.error}`);
  return parsed;
}

/** Runs the gRPC driver in the client pod (its CPU, its cgroup) with `spec`; its last line is the outcome. */
export async function grpcDriverInPod(live: LiveCell, spec: GrpcLoadSpec): Promise<GrpcDriverOutcome> {
  const proc = live.cluster.spawn(live.client, 'load-driver', [process.execPath, '--import', TSX, GRPC_DRIVER_MAIN, JSON.stringify(spec)], {
    cpus: 'driver',
  });
  const line = await proc.waitForLine((l) => l.includes('"latencyUs"') || l.includes('"error"'), spec.warmupMs + spec.durationMs + 45_000);
  const parsed = JSON.parse(line) as GrpcDriverOutcome | { error: string };
  if ('error' in parsed) throw new Error(`gRPC driver failed: ${parsed.error}`);
  if (parsed.driver !== GRPC_DRIVER_NAME) throw new Error(`not the gRPC driver: ${parsed.driver}`);
  return parsed;
}

export interface GrpcServerProcess {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

const GRPC_SERVER = fileURLToPath(new URL('../../harness/workload/grpcServer.ts', import.meta.url));

/** The gRPC workload server as a process on 127.0.0.1 (port 0: a free one), behind `prefix` (taskset). */
export function startGrpcServerProcess(delayUs: number, prefix: readonly string[] = []): Promise<GrpcServerProcess> {
  const argv = [...prefix, process.execPath, '--import', TSX, GRPC_SERVER, '--host', '127.0.0.1', '--port', '0', '--delay-us', String(delayUs)];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const kill = (signal: NodeJS.Signals): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kill('SIGKILL');
      reject(new Error(`gRPC server: no ready line in 20 s: ${stderr}`));
    }, 20_000);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"ready"'));
      if (!line) return;
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        port: (JSON.parse(line) as { port: number }).port,
        async stop() {
          kill('SIGTERM');
          const t = setTimeout(() => kill('SIGKILL'), 3_000);
          await exited;
          clearTimeout(t);
        },
      });
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`gRPC server exited before it was ready: ${stderr}`));
    });
  });
}

/**
 * A gRPC server's counters, asked over 127.0.0.1 (no netns) from this process: the Stats
 * call grpcPodClient.ts makes in a pod, without starting a process for it (~0.5 s each).
 */
export async function grpcLocalStats(port: number, reset = false): Promise<GrpcWorkloadStats> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { ...GRPC_COMMON_OPTIONS, 'grpc.enable_http_proxy': 0 });
  const identity = (b: Buffer): Buffer => b;
  try {
    return await new Promise<GrpcWorkloadStats>((resolve, reject) => {
      client.makeUnaryRequest(STATS_PATH, identity, identity, encodeStatsRequest(reset), { deadline: new Date(Date.now() + 3_000) }, (err, reply) => {
        if (err) reject(err);
        else resolve(JSON.parse(decodeStatsReply(reply!)) as GrpcWorkloadStats);
      });
    });
  } finally {
    client.close();
  }
}
