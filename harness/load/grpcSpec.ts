// The gRPC driver's spec: a LoadSpec (targets, model, rate, connections, window) plus what
// each call is. It crosses a process boundary as JSON (grpcDriverMain's argument) and is
// checked there, every problem at once, with field paths.
import { InputError, type InputProblem } from '../errors.ts';
import {
  GRPC_MESSAGES_PER_STREAM_MAX as MESSAGES_PER_STREAM_MAX, GRPC_METHODS, GRPC_STREAMS_PER_CONNECTION_MAX as STREAMS_PER_CONNECTION_MAX,
  type GrpcSettings,
} from '../scenario/types.ts';
import { GRPC_STATUS_MAX } from '../workload/grpcMessages.ts';
import { parseLoadSpec } from './spec.ts';
import type { LoadSpec } from './types.ts';

export type { GrpcMethod } from '../scenario/types.ts';

/**
 * The scenario's gRPC settings: method; messagesPerStream (stream: replies the server sends
 * per call, which completes with the last); streamsPerConnection (calls in flight at most on
 * one HTTP/2 connection: the closed model keeps this many in flight on every connection, the
 * open model's call waits when all its target's connections are full). Plus, for tests:
 */
export interface GrpcCallSpec extends GrpcSettings {
  /** Asks the server to end every call with this grpc-status (tests of error counting). */
  answerStatus?: number;
}

export interface GrpcLoadSpec extends LoadSpec {
  grpc: GrpcCallSpec;
}

function isIntegerIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

export function parseGrpcLoadSpec(input: unknown, source = 'gRPC load spec'): GrpcLoadSpec {
  const problems: InputProblem[] = [];
  let base: LoadSpec | undefined;
  try {
    base = parseLoadSpec(input, source);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    problems.push(...err.problems);
  }
  const o = (typeof input === 'object' && input !== null && !Array.isArray(input) ? input : {}) as Record<string, unknown>;
  const g = o.grpc;
  let call: GrpcCallSpec | undefined;
  if (typeof g !== 'object' || g === null || Array.isArray(g)) {
    problems.push({ path: 'grpc', message: 'must be an object {method, messagesPerStream, streamsPerConnection, answerStatus?}' });
  } else {
    const c = g as Record<string, unknown>;
    if (!(GRPC_METHODS as readonly unknown[]).includes(c.method)) {
      problems.push({ path: 'grpc.method', message: `must be "unary" or "stream", got ${JSON.stringify(c.method)}` });
    }
    if (!isIntegerIn(c.messagesPerStream, 1, MESSAGES_PER_STREAM_MAX)) {
      problems.push({ path: 'grpc.messagesPerStream', message: `must be an integer 1–${MESSAGES_PER_STREAM_MAX}, got ${JSON.stringify(c.messagesPerStream)}` });
    }
    if (!isIntegerIn(c.streamsPerConnection, 1, STREAMS_PER_CONNECTION_MAX)) {
      problems.push({ path: 'grpc.streamsPerConnection', message: `must be an integer 1–${STREAMS_PER_CONNECTION_MAX}, got ${JSON.stringify(c.streamsPerConnection)}` });
    }
    if (c.answerStatus !== undefined && !isIntegerIn(c.answerStatus, 0, GRPC_STATUS_MAX)) {
      problems.push({ path: 'grpc.answerStatus', message: `must be a grpc-status 0–${GRPC_STATUS_MAX}, got ${JSON.stringify(c.answerStatus)}` });
    }
    call = {
      method: c.method as GrpcCallSpec['method'],
      messagesPerStream: c.messagesPerStream as number,
      streamsPerConnection: c.streamsPerConnection as number,
      ...(c.answerStatus !== undefined ? { answerStatus: c.answerStatus as number } : {}),
    };
  }
  if (problems.length > 0 || base === undefined || call === undefined) throw new InputError(source, problems);
  return { ...base, grpc: call };
}
