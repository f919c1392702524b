// workload.server in a scenario, and which program each choice starts (harness/workload/servers.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { parseScenario } from '../../harness/scenario/load.ts';
import { DEFAULT_WORKLOAD_SERVER, NATIVE_SERVER_PATH, workloadServerArgv, workloadServerOf } from '../../harness/workload/servers.ts';

const problems = (text: string): string[] => {
  try {
    parseScenario(text, 's.yaml');
    return [];
  } catch (err) {
    assert.ok(err instanceof InputError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
};

describe('workload.server', () => {
  test('absent: the native server by default, and the scenario as run leaves the key out', () => {
    const s = parseScenario('name: s\nmeshes: [baseline]\nservices: [1]\nload: { rate: 10, duration: 2s }\n', 's.yaml');
    assert.equal(s.workload.server, undefined);
    assert.equal(workloadServerOf(s.workload), DEFAULT_WORKLOAD_SERVER);
    assert.equal(DEFAULT_WORKLOAD_SERVER, 'native');
  });

  test('native or node, as named', () => {
    for (const server of ['native', 'node'] as const) {
      const s = parseScenario(`name: s\nmeshes: [baseline]\nservices: [1]\nload: { rate: 10, duration: 2s }\nworkload: { server: ${server} }\n`, 's.yaml');
      assert.equal(s.workload.server, server);
    }
  });

  test('an unknown server, and native off the local platform, are refused with their path', () => {
    assert.deepEqual(problems('name: s\nmeshes: [baseline]\nservices: [1]\nload: { rate: 10, duration: 2s }\nworkload: { server: nginx }\n'), [
      'workload.server: unknown workload server "nginx" (expected one of native, node)',
    ]);
    const onKind = problems('name: s\nplatform: kind\nmeshes: [baseline]\nservices: [1]\nload: { rate: 10, duration: 2s }\nworkload: { server: native }\n');
    assert.equal(onKind.length, 1);
    assert.match(onKind[0]!, /^workload\.server: the native server runs on platform local only so far .*got platform kind/);
    assert.deepEqual(problems('name: s\nplatform: kind\nmeshes: [baseline]\nservices: [1]\nload: { rate: 10, duration: 2s }\nworkload: { server: node }\n'), []);
  });

  test('the same command line for either server; one native binary for both protocols', () => {
    const args = ['--host', '0.0.0.0', '--port', '8080', '--response-bytes', '1', '--delay-us', '0'];
    assert.deepEqual(workloadServerArgv('native', 'http1', args), [NATIVE_SERVER_PATH, ...args]);
    assert.deepEqual(workloadServerArgv('native', 'grpc', args), [NATIVE_SERVER_PATH, ...args]);
    assert.deepEqual(workloadServerArgv('node', 'http1', args).slice(-args.length), args);
    assert.match(workloadServerArgv('node', 'grpc', args)[1]!, /grpcServer-[0-9a-f]+\.mjs$/);
  });
});
