// The gRPC driver's spec at its process edge, and h2load's output as the reference driver reads it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { parseGrpcLoadSpec } from '../../harness/load/grpcSpec.ts';
import { histogramFromH2loadLog, parseH2loadOutput } from '../../harness/load/h2load.ts';
import { summarizeLatencyUs } from '../../harness/load/histogram.ts';

const BASE = { targets: [{ host: '198.19.0.1', port: 80 }], model: 'open', rate: 200, connections: 2, durationMs: 3000, warmupMs: 1000 };

describe('GrpcLoadSpec', () => {
  test('a LoadSpec plus the call', () => {
    const spec = parseGrpcLoadSpec({ ...BASE, grpc: { method: 'stream', messagesPerStream: 5, streamsPerConnection: 4, answerStatus: 13 } });
    assert.deepEqual(spec.grpc, { method: 'stream', messagesPerStream: 5, streamsPerConnection: 4, answerStatus: 13 });
    assert.equal(spec.rate, 200);
    assert.deepEqual(spec.targets, [{ host: '198.19.0.1', port: 80, path: '/' }]);
  });

  test('every problem of the load and of the call at once, with paths', () => {
    try {
      parseGrpcLoadSpec({ ...BASE, connections: 0, grpc: { method: 'bidi', messagesPerStream: 0, streamsPerConnection: 101, answerStatus: 17 } });
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof InputError);
      assert.deepEqual(err.problems.map((p) => p.path), ['connections', 'grpc.method', 'grpc.messagesPerStream', 'grpc.streamsPerConnection', 'grpc.answerStatus']);
    }
    assert.throws(() => parseGrpcLoadSpec({ ...BASE }), (err: unknown) => err instanceof InputError && err.problems[0]!.path === 'grpc');
  });
});

describe('h2load output', () => {
  const stdout = [
    'finished in 1.50s, 19165.00 req/s, 21.88MB/s',
    'requests: 19165 total, 19166 started, 19165 done, 19160 succeeded, 5 failed, 0 errored, 1 timeout',
    'status codes: 19160 2xx, 0 3xx, 0 4xx, 5 5xx',
  ].join('\n');

  test('the summary lines', () => {
    assert.deepEqual(parseH2loadOutput(stdout), {
      rps: 19165, total: 19165, succeeded: 19160, failed: 5, errored: 0, timeout: 1,
      status2xx: 19160, status3xx: 0, status4xx: 0, status5xx: 5,
    });
    assert.throws(() => parseH2loadOutput('connect failed'), /no summary/);
  });

  test('the per-request log becomes a µs histogram; status 0 is a request without an answer', () => {
    const log = ['1795635854271571\t200\t424', '1795635854271573\t200\t495', '1795635854271574\t503\t1005', '1795635854271575\t0\t12', ''].join('\n');
    const { histogram, answered, unanswered } = histogramFromH2loadLog(log);
    assert.equal(answered, 3);
    assert.equal(unanswered, 1);
    const summary = summarizeLatencyUs(histogram);
    assert.equal(summary.count, 3);
    assert.equal(summary.min, 424);
    assert.equal(summary.p50, 495);
  });
});
