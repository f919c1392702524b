// Scenario files: schema, defaults, durations, and the exact problem messages users see.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { loadScenarioFile, parseScenario, validateFiles } from '../../harness/scenario/load.ts';
import { parseDurationUs, validateScenario } from '../../harness/scenario/schema.ts';
import type { Scenario } from '../../harness/scenario/types.ts';

const FIXTURES = 'test/fixtures/scenarios';
const scenarioFiles = readdirSync('scenarios')
  .filter((file) => file.endsWith('.yaml'))
  .map((file) => join('scenarios', file));

/** The problems of a file that must fail, as `path: message` lines. */
async function problemsOf(path: string): Promise<string[]> {
  try {
    await loadScenarioFile(path);
  } catch (error) {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.equal(error.source, path);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail(`${path} was accepted`);
}

function problemsOfText(text: string): string[] {
  try {
    parseScenario(text, 'inline.yaml');
  } catch (error) {
    assert.ok(error instanceof InputError);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('accepted');
}

describe('scenarios/*.yaml', () => {
  test('there are scenario files', () => {
    assert.ok(scenarioFiles.length >= 4, scenarioFiles.join(', '));
  });

  for (const file of scenarioFiles) {
    test(`${file} is valid`, async () => {
      const scenario = await loadScenarioFile(file);
      assert.equal(`scenarios/${scenario.name}.yaml`, file, 'name matches the file name');
    });
  }

  test('quick.yaml is exactly what npm run bench should run', async () => {
    const expected: Scenario = {
      name: 'quick',
      platform: 'local',
      meshes: ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'],
      protocols: ['http1'],
      probes: ['dwell', 'runq', 'cpu', 'connect', 'memory'],
      services: [1],
      workload: { responseBytes: 1024, delayUs: 0 },
      load: { model: 'open', rate: 300, connections: 4, durationMs: 10_000, warmupMs: 2_000, driver: 'native' },
      repeats: 2,
    };
    assert.deepEqual(await loadScenarioFile('scenarios/quick.yaml'), expected);
  });

  test('capacity.yaml runs closed with wrk and 32 connections; delay-2ms.yaml delays 2000 µs', async () => {
    const capacity = await loadScenarioFile('scenarios/capacity.yaml');
    assert.equal(capacity.load.model, 'closed');
    assert.equal(capacity.load.driver, 'wrk');
    assert.equal(capacity.load.connections, 32);
    assert.equal(capacity.load.rate, undefined);
    const delay = await loadScenarioFile('scenarios/delay-2ms.yaml');
    assert.equal(delay.workload.delayUs, 2000);
  });

  test('full.yaml: all meshes, services [1, 10], 500 req/s, 20 s, 3 repeats', async () => {
    const full = await loadScenarioFile('scenarios/full.yaml');
    assert.deepEqual(full.meshes, ['baseline', 'sidecar', 'ebpf', 'ebpf-l4']);
    assert.deepEqual(full.services, [1, 10]);
    assert.equal(full.load.rate, 500);
    assert.equal(full.load.durationMs, 20_000);
    assert.equal(full.repeats, 3);
  });
});

describe('defaults', () => {
  test('a minimal file gets every default', async () => {
    const expected: Scenario = {
      name: 'minimal',
      platform: 'local',
      meshes: ['baseline', 'sidecar', 'ebpf', 'ebpf-l4', 'ambient', 'waypoint'],
      protocols: ['http1'],
      probes: ['dwell', 'runq', 'cpu', 'connect', 'memory'],
      services: [1],
      workload: { responseBytes: 1024, delayUs: 0 },
      load: { model: 'open', rate: 100, connections: 16, durationMs: 5_000, warmupMs: 2_000, driver: 'native' },
      repeats: 3,
    };
    assert.deepEqual(await loadScenarioFile(join(FIXTURES, 'minimal.yaml')), expected);
  });

  test('default lists are not shared between parses', () => {
    const text = 'name: a\nservices: [1]\nload: {rate: 1, duration: 1s}\n';
    const first = parseScenario(text, 'a.yaml');
    first.meshes.pop();
    assert.equal(parseScenario(text, 'a.yaml').meshes.length, 6);
  });

  test('closed model with wrk and warm-up 0s', () => {
    const scenario = parseScenario(
      'name: c\nservices: [1, 10]\nload: {model: closed, driver: wrk, connections: 32, duration: 1m, warmup: 0s}\n',
      'c.yaml',
    );
    assert.deepEqual(scenario.load, { model: 'closed', connections: 32, durationMs: 60_000, warmupMs: 0, driver: 'wrk' });
    assert.equal('rate' in scenario.load, false);
  });
});

describe('durations', () => {
  const accepted: Array<[string, number]> = [
    ['2ms', 2_000],
    ['1.5s', 1_500_000],
    ['250us', 250],
    ['250µs', 250], // U+00B5 micro sign
    ['250μs', 250], // U+03BC greek mu
    ['0s', 0],
    ['0ms', 0],
    ['1m', 60_000_000],
    ['60m', 3_600_000_000],
    ['1.1s', 1_100_000],
    ['0.001s', 1_000],
    ['.5s', 500_000],
    [' 3 s ', 3_000_000],
  ];
  for (const [text, us] of accepted) {
    test(`${JSON.stringify(text)} is ${us} µs`, () => {
      assert.deepEqual(parseDurationUs(text), { ok: true, us });
    });
  }

  const refused: Array<[unknown, string]> = [
    [10, 'must be a duration with a unit (us, µs, ms, s, m), got 10; add a unit, e.g. "10s" or "10ms"'],
    ['10', 'must be a duration with a unit (us, µs, ms, s, m), got "10"; add a unit, e.g. "10s" or "10ms"'],
    ['2h', 'unknown unit "h" in "2h" (expected one of us, µs, ms, s, m)'],
    ['5 sec', 'unknown unit "sec" in "5 sec" (expected one of us, µs, ms, s, m)'],
    ['0.5us', 'must be a whole number of microseconds, got "0.5us"'],
    ['-1s', 'must be a duration such as "2ms", "1.5s" or "250us", got "-1s"'],
    ['fast', 'must be a duration such as "2ms", "1.5s" or "250us", got "fast"'],
    [true, 'must be a duration such as "2ms", "1.5s" or "250us", got true'],
  ];
  for (const [input, message] of refused) {
    test(`${JSON.stringify(input)} is refused`, () => {
      assert.deepEqual(parseDurationUs(input), { ok: false, message });
    });
  }

  test('normalised in the scenario: delayUs, durationMs, warmupMs', () => {
    const scenario = parseScenario(
      'name: d\nservices: [1]\nworkload: {delay: 1500us}\nload: {rate: 5, duration: 1.5s, warmup: 250ms}\n',
      'd.yaml',
    );
    assert.equal(scenario.workload.delayUs, 1500);
    assert.equal(scenario.load.durationMs, 1500);
    assert.equal(scenario.load.warmupMs, 250);
  });

  test('bounds: duration 1s–60m, warm-up up to 60m, delay up to 10s', () => {
    assert.deepEqual(problemsOfText('name: b\nservices: [1]\nworkload: {delay: 11s}\nload: {rate: 5, duration: 61m, warmup: 61m}\n'), [
      'workload.delay: must be at most 10s, got "11s"',
      'load.duration: must be at most 60m, got "61m"',
      'load.warmup: must be at most 60m, got "61m"',
    ]);
    assert.deepEqual(problemsOfText('name: b\nservices: [1]\nload: {rate: 5, duration: 999ms}\n'), [
      'load.duration: must be at least 1s, got "999ms"',
    ]);
  });

  test('bare numbers in a file say to add a unit', async () => {
    assert.deepEqual(await problemsOf(join(FIXTURES, 'bare-duration.yaml')), [
      'load.duration: must be a duration with a unit (us, µs, ms, s, m), got 10; add a unit, e.g. "10s" or "10ms"',
      'load.warmup: must be a duration with a unit (us, µs, ms, s, m), got "2"; add a unit, e.g. "2s" or "2ms"',
    ]);
  });
});

describe('problems, all at once, with field paths', () => {
  test('a file with many mistakes reports each one', async () => {
    assert.deepEqual(await problemsOf(join(FIXTURES, 'many-mistakes.yaml')), [
      'name: must be lowercase letters, digits and dashes ([a-z0-9-]+), got "Bad Scenario"',
      'meshes[1]: unknown mesh "linkerd" (expected one of baseline, sidecar, ebpf, ebpf-l4, ambient, waypoint)',
      'meshes[3]: "sidecar" is listed twice (also at index 2)',
      'protocols[2]: "grpc" is listed twice (also at index 1)',
      'services[0]: must be an integer 1–200, got "ten"',
      'services[1]: must be an integer 1–200, got 0',
      'workload.responseBytes: must be an integer 0–1048576 (bytes, at most 1 MiB), got 2000000',
      'workload.delay: must be a duration with a unit (us, µs, ms, s, m), got 5; add a unit, e.g. "5s" or "5ms"',
      'load.rate: must be a number of requests per second, 1–100000, got -5',
      'load.connections: must be an integer 1–1024, got 0',
      'load.duration: must be at least 1s, got "500ms"',
      'load.warmup: unknown unit "h" in "2h" (expected one of us, µs, ms, s, m)',
      'load.driver: wrk runs only with the closed model (it cannot pace a fixed rate); use model: closed or driver: autocannon',
      'repeats: must be an integer 1–100, got 0',
    ]);
  });

  test('the InputError message is the validate listing', async () => {
    await assert.rejects(loadScenarioFile(join(FIXTURES, 'closed-with-rate.yaml')), {
      name: 'InputError',
      message:
        'test/fixtures/scenarios/closed-with-rate.yaml: 1 problem\n' +
        '  load.rate: not allowed with the closed model (it sends as fast as the connections allow), got 1000; remove it or use model: open',
    });
  });

  test('unknown keys at every level are named, with a suggestion for near misses', async () => {
    assert.deepEqual(await problemsOf(join(FIXTURES, 'unknown-keys.yaml')), [
      'workload.responseSize: unknown key "responseSize" (expected one of responseBytes, delay, server)',
      'load.rps: unknown key "rps" (expected one of model, rate, connections, duration, warmup, driver, spread, hotShare)',
      'reapeats: unknown key "reapeats" (did you mean "repeats"? expected one of name, platform, meshes, protocols, security, services, chain, workload, load, grpc, repeats, idle, probes, nodes)',
    ]);
  });

  test('a key in the wrong mapping says where it belongs', () => {
    assert.deepEqual(problemsOfText('name: x\nservices: [1]\nrate: 5\nload: {rate: 1, duration: 1s, responseBytes: 3}\n'), [
      'load.responseBytes: unknown key "responseBytes" (it belongs under workload; expected one of model, rate, connections, duration, warmup, driver, spread, hotShare)',
      'rate: unknown key "rate" (it belongs under load; expected one of name, platform, meshes, protocols, security, services, chain, workload, load, grpc, repeats, idle, probes, nodes)',
    ]);
  });

  test('open model needs a rate', async () => {
    assert.deepEqual(await problemsOf(join(FIXTURES, 'open-without-rate.yaml')), [
      'load.rate: missing: the open model needs a rate in requests per second, e.g. 300 (or use model: closed)',
    ]);
  });

  test('cross-field rules are checked even when other fields are wrong', () => {
    assert.deepEqual(problemsOfText('name: x\nservices: [0]\nload: {model: closed, rate: 5, duration: 3}\n'), [
      'services[0]: must be an integer 1–200, got 0',
      'load.rate: not allowed with the closed model (it sends as fast as the connections allow), got 5; remove it or use model: open',
      'load.duration: must be a duration with a unit (us, µs, ms, s, m), got 3; add a unit, e.g. "3s" or "3ms"',
    ]);
  });

  test('an invalid list item or integer does not hide duplicates or model rules', () => {
    assert.deepEqual(problemsOfText('name: x\nservices: [1.5, 2, 2]\nload: {model: closed, rate: 5, connections: 1.5, duration: 1s}\n'), [
      'services[0]: must be an integer 1–200, got 1.5',
      'services[2]: 2 is listed twice (also at index 1)',
      'load.rate: not allowed with the closed model (it sends as fast as the connections allow), got 5; remove it or use model: open',
      'load.connections: must be an integer 1–1024, got 1.5',
    ]);
    assert.deepEqual(problemsOfText('name: x\nservices: [1]\nload: {rate: x, driver: wrk, duration: 1s}\n'), [
      'load.rate: must be a number of requests per second, 1–100000, got "x"',
      'load.driver: wrk runs only with the closed model (it cannot pace a fixed rate); use model: closed or driver: autocannon',
    ]);
  });

  test('missing required keys, wrong shapes, empty lists', () => {
    assert.deepEqual(problemsOfText('meshes: []\nprotocols: http1\nworkload: [1]\n'), [
      'name: missing: a name of lowercase letters, digits and dashes, e.g. "quick"',
      'meshes: must list at least one mesh (one or more of baseline, sidecar, ebpf, ebpf-l4, ambient, waypoint)',
      'protocols: must be a list of protocols (one or more of http1, grpc), got "http1"',
      'services: missing: a list of integers (1–200, e.g. [1, 10])',
      'workload: must be a mapping (responseBytes, delay, server), got a list',
      'load: missing: a mapping with at least duration, and rate for the open model',
    ]);
    assert.deepEqual(problemsOfText('name: x\nservices: []\nload: {rate: 1, duration: 1s, model: poisson, driver: k6}\n'), [
      'services: must list at least one services value (1–200, e.g. [1, 10])',
      'load.model: unknown load model "poisson" (expected one of open, closed)',
      'load.driver: unknown load driver "k6" (expected one of native, autocannon, wrk)',
    ]);
  });

  test('platform: local, kind or kubernetes (their keys: test/unit/kube-scenario.test.ts)', () => {
    const base = 'name: x\nservices: [1]\nload: {rate: 1, duration: 1s}\n';
    assert.equal(parseScenario(`${base}platform: kind\n`, 'x.yaml').platform, 'kind');
    assert.deepEqual(problemsOfText(`${base}platform: mars\n`), ['platform: unknown platform "mars" (expected one of local, kind, kubernetes)']);
  });

  test('services: integers, unique, 1–200', () => {
    const text = (services: string) => `name: x\nservices: ${services}\nload: {rate: 1, duration: 1s}\n`;
    assert.deepEqual(problemsOfText(text('[1, 1.5, 201, 10, 10, "3"]')), [
      'services[1]: must be an integer 1–200, got 1.5',
      'services[2]: must be an integer 1–200, got 201',
      'services[4]: 10 is listed twice (also at index 3)',
      'services[5]: must be an integer 1–200, got "3"',
    ]);
    assert.deepEqual(problemsOfText(text('10')), ['services: must be a list of integers (1–200, e.g. [1, 10]), got 10']);
    assert.deepEqual(parseScenario(text('[1, 10, 200]').replace('{rate: 1,', '{rate: 1, connections: 200,'), 'x.yaml').services, [1, 10, 200]);
  });

  test('rate must be a positive number', () => {
    const text = (rate: string) => `name: x\nservices: [1]\nload: {rate: ${rate}, duration: 1s}\n`;
    assert.deepEqual(problemsOfText(text('0')), ['load.rate: must be a number of requests per second, 1–100000, got 0']);
    assert.deepEqual(problemsOfText(text('"300"')), ['load.rate: must be a number of requests per second, 1–100000, got "300"']);
    assert.deepEqual(problemsOfText(text('.inf')), ['load.rate: must be a number of requests per second, 1–100000, got Infinity']);
    assert.equal(parseScenario(text('12.5'), 'x.yaml').load.rate, 12.5);
  });

  test('the whole file: syntax errors with line:column, empty, not a mapping, missing', async () => {
    assert.deepEqual(await problemsOf(join(FIXTURES, 'syntax-error.yaml')), [
      ': YAML syntax error at 3:1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    assert.deepEqual(await problemsOf(join(FIXTURES, 'empty.yaml')), [
      ': the file is empty; expected a scenario mapping with at least name, services and load',
    ]);
    assert.deepEqual(await problemsOf(join(FIXTURES, 'not-a-mapping.yaml')), [
      ': the scenario must be a mapping of keys (name, platform, meshes, protocols, security, services, chain, workload, load, grpc, repeats, idle, probes, nodes), got a list',
    ]);
    assert.deepEqual(await problemsOf(join(FIXTURES, 'does-not-exist.yaml')), [': cannot read the file: it does not exist']);
    assert.deepEqual(problemsOfText('name: a\nname: b\n'), [': YAML syntax error at 2:1: Map keys must be unique']);
  });

  test('validateScenario works on parsed data too', () => {
    const result = validateScenario({ name: 'x', services: [1], load: { rate: 1, duration: '1s' }, probes: ['dwell', 'kprobe'] });
    assert.deepEqual(result, {
      ok: false,
      problems: [
        {
          path: 'probes[1]',
          message: 'unknown probe "kprobe" (expected one of dwell, runq, cpu, connect, memory)',
        },
      ],
    });
    const none = validateScenario({ name: 'x', services: [1], load: { rate: 1, duration: '1s' }, probes: [] });
    assert.ok(none.ok && none.scenario.probes.length === 0, 'probes: [] turns the probes off');
  });
});

describe('validateFiles (meshbench validate)', () => {
  test('every file, every problem; ok only when all are good', async () => {
    const result = await validateFiles([
      'scenarios/quick.yaml',
      join(FIXTURES, 'closed-with-rate.yaml'),
      join(FIXTURES, 'bare-duration.yaml'),
    ]);
    assert.equal(result.ok, false);
    assert.equal(
      result.output,
      [
        'scenarios/quick.yaml: ok',
        'test/fixtures/scenarios/closed-with-rate.yaml: 1 problem',
        '  load.rate: not allowed with the closed model (it sends as fast as the connections allow), got 1000; remove it or use model: open',
        'test/fixtures/scenarios/bare-duration.yaml: 2 problems',
        '  load.duration: must be a duration with a unit (us, µs, ms, s, m), got 10; add a unit, e.g. "10s" or "10ms"',
        '  load.warmup: must be a duration with a unit (us, µs, ms, s, m), got "2"; add a unit, e.g. "2s" or "2ms"',
      ].join('\n'),
    );
  });

  test('all good', async () => {
    assert.deepEqual(await validateFiles(scenarioFiles.slice(0, 2)), {
      ok: true,
      output: scenarioFiles
        .slice(0, 2)
        .map((file) => `${file}: ok`)
        .join('\n'),
    });
  });

  test('a missing file is a problem, listed as "(file)"', async () => {
    assert.deepEqual(await validateFiles(['nope.yaml']), {
      ok: false,
      output: 'nope.yaml: 1 problem\n  (file): cannot read the file: it does not exist',
    });
  });
});
