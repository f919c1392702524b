// The security axis: the key, its validation, the cells it plans.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseScenario } from '../../harness/scenario/load.ts';
import { cellId, planCells } from '../../harness/scenario/plan.ts';
import type { Scenario } from '../../harness/scenario/types.ts';

const base = `name: t
meshes: [baseline, sidecar]
services: [1]
load: { model: open, rate: 100, connections: 2, duration: 2s, warmup: 1s }
repeats: 2
`;

function parse(extra: string): Scenario {
  return parseScenario(base + extra, 't.yaml');
}

describe('security axis', () => {
  test('absent: plaintext only, cells as before the axis', () => {
    const scenario = parse('') as Scenario;
    assert.equal(scenario.security, undefined);
    const cells = planCells(scenario);
    assert.deepEqual(cells.map((c) => c.id), ['baseline-http1-s1-r1', 'sidecar-http1-s1-r1', 'sidecar-http1-s1-r2', 'baseline-http1-s1-r2']);
    assert.ok(cells.every((c) => c.security === 'plaintext'));
  });

  test('[plaintext, mtls]: every mesh in both modes, the reference mesh once (plaintext)', () => {
    const scenario = parse('security: [plaintext, mtls]\n') as Scenario;
    assert.deepEqual(scenario.security, ['plaintext', 'mtls']);
    const cells = planCells(scenario);
    assert.deepEqual(cells.map((c) => c.id), [
      'baseline-http1-s1-r1', 'sidecar-http1-s1-r1', 'sidecar-http1-mtls-s1-r1',
      'sidecar-http1-s1-r2', 'baseline-http1-s1-r2', 'sidecar-http1-mtls-s1-r2',
    ]);
    assert.deepEqual(cells.filter((c) => c.mesh === 'sidecar').map((c) => c.security), ['plaintext', 'mtls', 'plaintext', 'mtls']);
    cells.forEach((cell, i) => assert.equal(cell.index, i));
  });

  test('unknown and repeated modes are named with their path', () => {
    assert.throws(() => parse('security: [mtls, wireguard, mtls]\n'), (error: Error & { problems?: Array<{ path: string; message: string }> }) => {
      const text = JSON.stringify(error.problems ?? error.message);
      assert.match(text, /security\[1\]/);
      assert.match(text, /unknown security mode \\"wireguard\\" \(expected one of plaintext, mtls\)/);
      assert.match(text, /security\[2\]/);
      return true;
    });
  });

  test('ids', () => {
    assert.equal(cellId('sidecar', 'grpc', 10, 3, 'mtls'), 'sidecar-grpc-mtls-s10-r3');
    assert.equal(cellId('sidecar', 'grpc', 10, 3), 'sidecar-grpc-s10-r3');
  });
});
