// A gRPC client the system tests start inside a pod (or the node netns), printing one JSON line:
//
//   grpcPodClient.ts calls HOST:PORT --count N [--method unary|stream] [--messages M] [--status S]
//     → {"grpcJs": [{code, replies, bytes}…], "meshbench": {"peer": "ip:port", "calls": [{status, replies}…]}}
//   grpcPodClient.ts stats HOST:PORT [--reset]
//     → the server's GrpcWorkloadStats
//
// `calls` makes N sequential calls with grpc-js (a standard gRPC client: one channel, one
// connection) and N with the load driver's own HTTP/2 client (one connection), whose socket
// tells what getpeername() says the client talks to. Every call is bounded (3 s deadline).
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { grpcRequestTemplate } from '../../harness/load/grpcDriver.ts';
import { H2ClientConnection } from '../../harness/load/grpcH2.ts';
import {
  GrpcMessageCounter, STATS_PATH, STREAM_PATH, UNARY_PATH, benchReplyPayloadBytes, decodeStatsReply, encodeBenchRequest, encodeStatsRequest,
} from '../../harness/workload/grpcMessages.ts';
import { GRPC_COMMON_OPTIONS } from '../../harness/workload/grpcServer.ts';

const CALL_DEADLINE_MS = 3_000;
const identity = (b: Buffer): Buffer => b;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '1' },
    method: { type: 'string', default: 'unary' },
    messages: { type: 'string', default: '1' },
    status: { type: 'string', default: '0' },
    reset: { type: 'boolean', default: false },
  },
});
const [command, target] = positionals;
if (!target || !/^[\d.]+:\d+$/.test(target)) throw new Error('usage: grpcPodClient.ts calls|stats HOST:PORT …');
const [host, portText] = target.split(':') as [string, string];
const port = Number(portText);
const count = Number(values.count);
const method = values.method === 'stream' ? 'stream' : 'unary';
const messages = Number(values.messages);
const status = Number(values.status);

function client(): grpc.Client {
  return new grpc.Client(target!, grpc.credentials.createInsecure(), { ...GRPC_COMMON_OPTIONS, 'grpc.enable_http_proxy': 0 });
}

const deadline = (): Date => new Date(Date.now() + CALL_DEADLINE_MS);

async function grpcJsCalls(): Promise<Array<{ code: number; replies: number; bytes: number }>> {
  const c = client();
  const request = encodeBenchRequest({ messages: method === 'stream' ? messages : 0, status });
  const out: Array<{ code: number; replies: number; bytes: number }> = [];
  try {
    for (let i = 0; i < count; i++) {
      out.push(
        await new Promise((resolve) => {
          if (method === 'unary') {
            c.makeUnaryRequest(UNARY_PATH, identity, identity, request, { deadline: deadline() }, (err, reply) => {
              resolve({ code: err?.code ?? 0, replies: reply ? 1 : 0, bytes: reply ? benchReplyPayloadBytes(reply) : 0 });
            });
          } else {
            const call = c.makeServerStreamRequest(STREAM_PATH, identity, identity, request, { deadline: deadline() });
            let replies = 0;
            let bytes = 0;
            call.on('data', (reply: Buffer) => {
              replies++;
              bytes += benchReplyPayloadBytes(reply);
            });
            call.on('error', () => {}); // the status event carries it
            call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, replies, bytes }));
          }
        }),
      );
    }
  } finally {
    c.close();
  }
  return out;
}

/** The driver's HTTP/2 client: one connection, `count` calls one after another. */
async function meshbenchCalls(): Promise<{ peer: string; calls: Array<{ status: string; replies: number }> }> {
  const template = grpcRequestTemplate({ host, port }, { method, messagesPerStream: messages, streamsPerConnection: 1, answerStatus: status });
  const connection = await new Promise<H2ClientConnection>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no HTTP/2 connection to ${target} in ${CALL_DEADLINE_MS} ms`)), CALL_DEADLINE_MS);
    const c: H2ClientConnection = new H2ClientConnection(host, port, {
      onReady: () => {
        clearTimeout(timer);
        resolve(c);
      },
      onClose: (err) => reject(err ?? new Error('connection closed')),
    });
  });
  const peer = `${connection.socket.remoteAddress}:${connection.socket.remotePort}`;
  const calls: Array<{ status: string; replies: number }> = [];
  try {
    for (let i = 0; i < count; i++) {
      calls.push(
        await new Promise((resolve) => {
          let grpcStatus = '';
          const replies = new GrpcMessageCounter();
          const timer = setTimeout(() => resolve({ status: 'timeout', replies: replies.messages }), CALL_DEADLINE_MS);
          const done = (): void => {
            clearTimeout(timer);
            resolve({ status: grpcStatus, replies: replies.messages });
          };
          connection.send(template, {
            onHeaders(fields, endStream) {
              for (const [name, value] of fields) if (name === 'grpc-status') grpcStatus = value;
              if (endStream) done();
            },
            onData(chunk, endStream) {
              replies.push(chunk);
              if (endStream) done();
            },
            onReset(code) {
              grpcStatus = `reset-${code}`;
              done();
            },
          });
        }),
      );
    }
  } finally {
    connection.close();
  }
  return { peer, calls };
}

async function stats(): Promise<unknown> {
  const c = client();
  try {
    return await new Promise((resolve, reject) => {
      c.makeUnaryRequest(STATS_PATH, identity, identity, encodeStatsRequest(values.reset!), { deadline: deadline() }, (err, reply) => {
        if (err) reject(err);
        else resolve(JSON.parse(decodeStatsReply(reply!)));
      });
    });
  } finally {
    c.close();
  }
}

try {
  const result = command === 'stats' ? await stats() : { grpcJs: await grpcJsCalls(), meshbench: await meshbenchCalls() };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: String((err as Error).message ?? err) })}\n`);
  process.exitCode = 1;
}
