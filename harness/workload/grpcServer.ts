// The gRPC workload server (grpc-js, h2c): service meshbench.v1.Bench of meshbench.proto.
// Unary answers one reply of exactly N payload bytes; Stream answers `messages` replies of N
// bytes. The added delay (precise to tens of µs, preciseDelay.ts) comes once per call,
// before the first reply, so `delay` adds the same to a unary and a streaming call.
// A request with a non-zero `status` ends its call with that grpc-status after the delay
// (the error-counting tests use it). Every call is counted by method, grpc-status and peer.
//
//   node --import tsx harness/workload/grpcServer.ts --host H --port P --response-bytes N --delay-us D
//
// prints one JSON line `{"ready":true,"pid":…,"port":…}` on stdout once listening (port 0
// picks a free one), then nothing else; logs go to stderr. SIGTERM/SIGINT close it.
// Counters: the Stats method (grpcStatsClient.ts reads it), not counted as a call.
import * as grpc from '@grpc/grpc-js';
import { pathToFileURL } from 'node:url';
import { runServerMain } from './serverCli.ts';
import { createLatencyHistogram, recordLatencyUs, summarizeLatencyUs } from '../load/histogram.ts';
import type { LatencySummaryUs } from '../results/types.ts';
import {
  STATS_PATH, STREAM_PATH, UNARY_PATH, decodeBenchRequest, decodeStatsRequest, encodeBenchReply, encodeStatsReply,
  type BenchRequest,
} from './grpcMessages.ts';
import { createPreciseTimer, nowUs, type PreciseDelayMode, type PreciseTimer } from './preciseDelay.ts';

export interface GrpcWorkloadServerOptions {
  host: string;
  port: number;
  /** Payload bytes of each reply. */
  responseBytes: number;
  /** Added latency per call (before the first reply), µs; 0 answers at once. */
  delayUs: number;
  delayMode?: PreciseDelayMode;
}

export interface GrpcWorkloadStats {
  /** Unary and Stream calls answered (any status); Stats calls excluded. */
  calls: number;
  /** Calls by method. */
  methods: { unary: number; stream: number };
  /** Calls by the grpc-status they ended with ("0" = OK). */
  statuses: Record<string, number>;
  /** Replies written (one per unary call, `messages` per stream). */
  replies: number;
  /** Calls by remote address (IPv4-mapped IPv6 addresses shown as IPv4). */
  peers: Record<string, number>;
  /** Delay error of the calls (actual − asked, µs; on time or early reads 1). */
  delay: { delayUs: number; errorUs: LatencySummaryUs } & Record<string, unknown>;
}

export interface GrpcWorkloadServer {
  readonly port: number;
  stats(reset?: boolean): GrpcWorkloadStats;
  close(): Promise<void>;
}

const identity = (b: Buffer): Buffer => b;

/** Server side of meshbench.v1.Bench: requests decoded by hand, replies prebuilt Buffers. */
const BENCH_SERVICE_DEFINITION: grpc.ServiceDefinition = {
  Unary: {
    path: UNARY_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: decodeBenchRequest,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Stream: {
    path: STREAM_PATH,
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: decodeBenchRequest,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Stats: {
    path: STATS_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: decodeStatsRequest,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** grpc-js options shared by the server and the harness's clients: no channelz bookkeeping per call. */
export const GRPC_COMMON_OPTIONS = { 'grpc.enable_channelz': 0 } as const;

/** `198.18.0.2:41234` / `[::ffff:127.0.0.1]:5` / `ipv4:…` → the address alone. */
export function peerAddress(peer: string): string {
  let a = peer.replace(/^ipv[46]:/, '');
  const bracket = /^\[(.*)\]:\d+$/.exec(a);
  if (bracket) a = bracket[1]!;
  else if (a.split(':').length === 2) a = a.slice(0, a.lastIndexOf(':'));
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export async function startGrpcWorkloadServer(options: GrpcWorkloadServerOptions): Promise<GrpcWorkloadServer> {
  const { delayUs } = options;
  const reply = encodeBenchReply(options.responseBytes);
  const timer: PreciseTimer | undefined = delayUs > 0 ? await createPreciseTimer({ mode: options.delayMode ?? 'worker' }) : undefined;
  let delayError = createLatencyHistogram();
  let calls = 0;
  let replies = 0;
  let methods = { unary: 0, stream: 0 };
  let statuses = new Map<number, number>();
  let peers = new Map<string, number>();

  const stats = (reset = false): GrpcWorkloadStats => {
    const result: GrpcWorkloadStats = {
      calls,
      methods: { ...methods },
      statuses: Object.fromEntries([...statuses].map(([code, n]) => [String(code), n])),
      replies,
      peers: Object.fromEntries(peers),
      delay: { delayUs, ...(timer?.details ?? {}), errorUs: summarizeLatencyUs(delayError) },
    };
    if (reset) {
      calls = 0;
      replies = 0;
      methods = { unary: 0, stream: 0 };
      statuses = new Map();
      peers = new Map();
      delayError = createLatencyHistogram();
    }
    return result;
  };

  const count = (peer: string, status: number): void => {
    calls++;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const address = peerAddress(peer);
    peers.set(address, (peers.get(address) ?? 0) + 1);
  };

  /** Runs `answer` after the delay (at once without one), recording the delay error. */
  const afterDelay = (answer: () => void): void => {
    if (timer === undefined) {
      answer();
      return;
    }
    timer.fireDue();
    const dueUs = nowUs() + delayUs;
    timer.schedule(delayUs, () => {
      recordLatencyUs(delayError, nowUs() - dueUs);
      answer();
    });
  };

  const failure = (status: number): Partial<grpc.StatusObject> => ({
    code: status as grpc.status,
    details: `meshbench: status ${status} asked for`,
  });

  const server = new grpc.Server({ ...GRPC_COMMON_OPTIONS });
  server.addService(BENCH_SERVICE_DEFINITION, {
    Unary: (call: grpc.ServerUnaryCall<BenchRequest, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      methods.unary++;
      const status = call.request.status;
      const peer = call.getPeer();
      afterDelay(() => {
        count(peer, status);
        if (status !== 0) {
          callback(failure(status));
        } else {
          replies++;
          callback(null, reply);
        }
      });
    },
    Stream: (call: grpc.ServerWritableStream<BenchRequest, Buffer>) => {
      methods.stream++;
      const { status } = call.request;
      const messages = Math.max(1, call.request.messages);
      const peer = call.getPeer();
      afterDelay(() => {
        count(peer, status);
        if (status !== 0) {
          call.emit('error', failure(status));
          return;
        }
        for (let i = 0; i < messages; i++) call.write(reply);
        replies += messages;
        call.end();
      });
    },
    Stats: (call: grpc.ServerUnaryCall<{ reset: boolean }, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      callback(null, encodeStatsReply(JSON.stringify(stats(call.request.reset))));
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    server.bindAsync(`${host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, boundPort) => {
      if (err) reject(err);
      else resolve(boundPort);
    });
  });

  return {
    port,
    stats,
    async close() {
      server.forceShutdown();
      await timer?.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runServerMain('grpcServer', startGrpcWorkloadServer);
}
