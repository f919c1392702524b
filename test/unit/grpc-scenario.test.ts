// The scenario's gRPC keys: protocols [http1, grpc], grpc {method, messagesPerStream,
// streamsPerConnection}, their defaults, and every bad value named by its path.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { loadScenarioFile, parseScenario } from '../../harness/scenario/load.ts';
import { planCells } from '../../harness/scenario/plan.ts';

function problemsOfText(text: string): string[] {
  try {
    parseScenario(text, 'inline.yaml');
  } catch (error) {
    assert.ok(error instanceof InputError);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('accepted');
}

const BASE = 'name: g\nservices: [1]\nload: {rate: 100, duration: 2s}\n';

describe('gRPC in scenarios', () => {
  test('protocols default to http1 only, and then there are no gRPC settings', () => {
    const scenario = parseScenario(BASE, 'g.yaml');
    assert.deepEqual(scenario.protocols, ['http1']);
    assert.equal('grpc' in scenario, false);
  });

  test('protocols [http1, grpc] without a grpc mapping: unary, one stream per connection', () => {
    const scenario = parseScenario(`${BASE}protocols: [http1, grpc]\n`, 'g.yaml');
    assert.deepEqual(scenario.protocols, ['http1', 'grpc']);
    assert.deepEqual(scenario.grpc, { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1 });
    // Every mesh once per protocol: the cells of both protocols in one run.
    assert.deepEqual(
      planCells(scenario).map((c) => c.id).filter((id) => id.startsWith('baseline')),
      ['baseline-http1-s1-r1', 'baseline-grpc-s1-r1', 'baseline-http1-s1-r2', 'baseline-grpc-s1-r2', 'baseline-http1-s1-r3', 'baseline-grpc-s1-r3'],
    );
  });

  test('streaming: messagesPerStream defaults to 10, and is taken as given', () => {
    assert.deepEqual(parseScenario(`${BASE}protocols: [grpc]\ngrpc: {method: stream}\n`, 'g.yaml').grpc, {
      method: 'stream',
      messagesPerStream: 10,
      streamsPerConnection: 1,
    });
    assert.deepEqual(parseScenario(`${BASE}protocols: [grpc]\ngrpc: {method: stream, messagesPerStream: 100, streamsPerConnection: 8}\n`, 'g.yaml').grpc, {
      method: 'stream',
      messagesPerStream: 100,
      streamsPerConnection: 8,
    });
  });

  test('bad values are rejected with their field paths, all at once', () => {
    assert.deepEqual(problemsOfText(`${BASE}protocols: [grpc, http2]\ngrpc: {method: bidi, messagesPerStream: 0, streamsPerConnection: 101, deadline: 1s}\n`), [
      'protocols[1]: unknown protocol "http2" (expected one of http1, grpc)',
      'grpc.method: unknown gRPC method "bidi" (expected one of unary, stream)',
      'grpc.messagesPerStream: must be an integer 1–10000 (replies per streaming call), got 0',
      'grpc.streamsPerConnection: must be an integer 1–100 (calls in flight per HTTP/2 connection), got 101',
      'grpc.deadline: unknown key "deadline" (expected one of method, messagesPerStream, streamsPerConnection)',
    ]);
    assert.deepEqual(problemsOfText(`${BASE}protocols: [grpc]\ngrpc: unary\n`), [
      'grpc: must be a mapping (method, messagesPerStream, streamsPerConnection), got "unary"',
    ]);
    assert.deepEqual(problemsOfText(`${BASE}protocols: [grpc]\ngrpc: {messagesPerStream: 1.5, streamsPerConnection: "4"}\n`), [
      'grpc.messagesPerStream: must be an integer 1–10000 (replies per streaming call), got 1.5',
      'grpc.streamsPerConnection: must be an integer 1–100 (calls in flight per HTTP/2 connection), got "4"',
    ]);
  });

  test('messagesPerStream applies to streams only', () => {
    assert.deepEqual(problemsOfText(`${BASE}protocols: [grpc]\ngrpc: {method: unary, messagesPerStream: 5}\n`), [
      'grpc.messagesPerStream: only with method: stream (a unary call has one reply), got 5 with method unary',
    ]);
  });

  test('grpc settings without grpc in protocols, and grpc off the local platform, are refused', () => {
    assert.deepEqual(problemsOfText(`${BASE}grpc: {method: stream}\n`), [
      'grpc: only with grpc in protocols, e.g. protocols: [http1, grpc]',
    ]);
    assert.deepEqual(problemsOfText(`${BASE}platform: kind\nprotocols: [http1, grpc]\n`), [
      'protocols[1]: "grpc" runs on platform local only so far (kind and kubernetes deploy the HTTP workload), got platform kind',
    ]);
    // Both rules speak even when the other field is wrong too.
    assert.deepEqual(problemsOfText(`${BASE}platform: kind\nprotocols: [grpc]\ngrpc: {method: unary, messagesPerStream: 3}\n`), [
      'protocols[0]: "grpc" runs on platform local only so far (kind and kubernetes deploy the HTTP workload), got platform kind',
      'grpc.messagesPerStream: only with method: stream (a unary call has one reply), got 3 with method unary',
    ]);
  });

  test('a misplaced gRPC key says where it belongs', () => {
    assert.deepEqual(problemsOfText(`${BASE}protocols: [grpc]\nmethod: stream\n`), [
      'method: unknown key "method" (it belongs under grpc; expected one of name, platform, meshes, protocols, security, services, chain, workload, load, grpc, repeats, idle, probes, nodes)',
    ]);
  });

  test('scenarios/grpc.yaml: both protocols, unary calls', async () => {
    const scenario = await loadScenarioFile('scenarios/grpc.yaml');
    assert.deepEqual(scenario.protocols, ['http1', 'grpc']);
    assert.equal(scenario.grpc?.method, 'unary');
  });
});
