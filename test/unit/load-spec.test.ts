import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { parseLoadSpec } from '../../harness/load/spec.ts';
import { toLoadOutcome, type DriverOutcome } from '../../harness/load/types.ts';

describe('LoadSpec parsing', () => {
  it('accepts a valid spec and defaults the path', () => {
    const spec = parseLoadSpec({
      targets: [{ host: '127.0.0.1', port: 8080 }],
      model: 'open',
      rate: 200,
      connections: 4,
      durationMs: 5000,
      warmupMs: 1000,
    });
    assert.deepEqual(spec.targets, [{ host: '127.0.0.1', port: 8080, path: '/' }]);
    assert.equal(spec.rate, 200);
    assert.equal(spec.timeoutMs, undefined);
  });

  it('drops the rate of a closed-model spec', () => {
    const spec = parseLoadSpec({ targets: [{ host: 'h', port: 1 }], model: 'closed', rate: 5, connections: 1, durationMs: 1, warmupMs: 0 });
    assert.equal(spec.rate, undefined);
  });

  it('reports every problem at once, with field paths', () => {
    try {
      parseLoadSpec({ targets: [{ host: '', port: 70000, path: 'x' }, { host: 'a', port: 1 }], model: 'open', connections: 1, durationMs: 0, warmupMs: -1 });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof InputError);
      const paths = err.problems.map((p) => p.path);
      assert.deepEqual(paths, ['targets[0].host', 'targets[0].port', 'targets[0].path', 'rate', 'connections', 'durationMs', 'warmupMs']);
    }
  });

  it('toLoadOutcome strips the accounting', () => {
    const o = { driver: 'autocannon', accounting: { sent: 1 } } as unknown as DriverOutcome;
    assert.deepEqual(toLoadOutcome(o), { driver: 'autocannon' });
  });
});
