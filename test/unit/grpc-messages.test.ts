// The hand-made protobuf encoding of meshbench.proto, checked against protobufjs (through
// @grpc/proto-loader, as grpc-js clients would load the file), and the gRPC framing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as protoLoader from '@grpc/proto-loader';
import {
  BENCH_PROTO_PATH, BENCH_SERVICE, GrpcMessageCounter, STATS_PATH, STREAM_PATH, UNARY_PATH, benchReplyPayloadBytes,
  decodeBenchRequest, decodeStatsReply, decodeStatsRequest, encodeBenchReply, encodeBenchRequest, encodeStatsReply,
  encodeStatsRequest, grpcFrame,
} from '../../harness/workload/grpcMessages.ts';

type Method = { path: string; requestSerialize: (v: unknown) => Buffer; requestDeserialize: (b: Buffer) => unknown; responseSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown };

const definition = protoLoader.loadSync(BENCH_PROTO_PATH, { longs: Number, defaults: true });
const service = definition[BENCH_SERVICE] as unknown as Record<'Unary' | 'Stream' | 'Stats', Method>;

describe('meshbench.proto messages', () => {
  test('method paths match the .proto', () => {
    assert.equal(service.Unary.path, UNARY_PATH);
    assert.equal(service.Stream.path, STREAM_PATH);
    assert.equal(service.Stats.path, STATS_PATH);
  });

  test('BenchRequest: same bytes as protobufjs, both ways', () => {
    for (const request of [
      { messages: 0, status: 0 },
      { messages: 10, status: 0 },
      { messages: 300, status: 13 },
      { messages: 10_000, status: 16 },
      { messages: 2 ** 31, status: 1 },
    ]) {
      const ours = encodeBenchRequest(request);
      // protobufjs writes fields set to their default too (valid, not canonical): compare bytes
      // where no field is 0, decoded values everywhere.
      if (request.messages !== 0 && request.status !== 0) assert.deepEqual(ours, service.Unary.requestSerialize(request), JSON.stringify(request));
      assert.deepEqual(decodeBenchRequest(service.Unary.requestSerialize(request)), request);
      assert.deepEqual(decodeBenchRequest(ours), request);
      assert.deepEqual(service.Stream.requestDeserialize(ours), request);
    }
  });

  test('BenchReply: payload of N bytes, read back by protobufjs', () => {
    for (const n of [0, 1, 127, 128, 1024, 16_384, 1_048_576]) {
      const reply = encodeBenchReply(n);
      const decoded = service.Unary.responseDeserialize(reply) as { payload: Buffer };
      assert.equal(decoded.payload.length, n);
      assert.equal(benchReplyPayloadBytes(reply), n);
      if (n > 0) assert.deepEqual(reply, service.Unary.responseSerialize({ payload: Buffer.alloc(n, 'x') }));
    }
  });

  test('Stats messages', () => {
    assert.deepEqual(encodeStatsRequest(true), service.Stats.requestSerialize({ reset: true }));
    assert.deepEqual(service.Stats.requestDeserialize(encodeStatsRequest(false)), { reset: false });
    assert.deepEqual(decodeStatsRequest(encodeStatsRequest(true)), { reset: true });
    const json = JSON.stringify({ calls: 3, peers: { 'µ': 1 } });
    assert.deepEqual(encodeStatsReply(json), service.Stats.responseSerialize({ json }));
    assert.equal(decodeStatsReply(encodeStatsReply(json)), json);
  });

  test('unknown fields are skipped, truncated messages refused', () => {
    // field 7 (varint) and field 9 (bytes) before field 2
    const withUnknown = Buffer.from([0x38, 0x05, 0x4a, 0x02, 0x61, 0x62, 0x10, 0x0d]);
    assert.deepEqual(decodeBenchRequest(withUnknown), { messages: 0, status: 13 });
    assert.throws(() => decodeBenchRequest(Buffer.from([0x08, 0x80])), /truncated/);
  });
});

describe('gRPC framing', () => {
  test('a frame is flag 0, big-endian length, the message', () => {
    assert.deepEqual(grpcFrame(Buffer.from([1, 2, 3])), Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
    assert.deepEqual(grpcFrame(Buffer.alloc(0)), Buffer.alloc(5));
  });

  test('the counter finds whole messages across any chunking', () => {
    const stream = Buffer.concat([grpcFrame(encodeBenchReply(1000)), grpcFrame(Buffer.alloc(0)), grpcFrame(encodeBenchReply(3))]);
    for (const size of [1, 2, 5, 7, 100, stream.length]) {
      const counter = new GrpcMessageCounter();
      for (let i = 0; i < stream.length; i += size) counter.push(stream.subarray(i, i + size));
      assert.equal(counter.messages, 3, `chunks of ${size}`);
      assert.equal(counter.bodyBytes, stream.length - 15);
      assert.ok(counter.complete);
    }
    const half = new GrpcMessageCounter();
    half.push(stream.subarray(0, 10));
    assert.equal(half.messages, 0);
    assert.equal(half.complete, false);
  });
});
