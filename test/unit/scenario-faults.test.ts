// Issue 14, "bad input never crashes": absurd values are refused with their bound in the
// message, and hostile files (an alias bomb, non-UTF-8, huge, not a file) give one problem
// each, through `meshbench validate` and `meshbench run` alike: exit 2, no stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { loadScenarioFile, parseScenario, SCENARIO_FILE_MAX_BYTES } from '../../harness/scenario/load.ts';
import { NAME_MAX, RATE_MAX, RATE_MIN } from '../../harness/scenario/schema.ts';

const scenario = (load: string, name = 'faults'): string => `name: ${name}\nservices: [1]\nload: { ${load} }\n`;

function problemsOfText(text: string): string[] {
  try {
    parseScenario(text, 'inline.yaml');
  } catch (error) {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('accepted');
}

async function problemsOfFile(path: string): Promise<string[]> {
  try {
    await loadScenarioFile(path);
  } catch (error) {
    assert.ok(error instanceof InputError, `expected InputError, got ${String((error as Error).stack)}`);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail(`${path} accepted`);
}

/** 9 levels × 9 aliases: 9⁹ nodes if expanded. */
function aliasBomb(): string {
  const lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  let previous = 'a';
  for (const level of 'bcdefghi') {
    lines.push(`${level}: &${level} [${Array.from({ length: 9 }, () => `*${previous}`).join(', ')}]`);
    previous = level;
  }
  return `${lines.join('\n')}\nname: bomb\nservices: [1]\nload: { rate: 10, duration: 1s }\nx: *i\n`;
}

describe('scenario values are bounded by what the platform and driver can do', () => {
  test('load.rate 1e9 is refused with the ceiling in the message', () => {
    const [problem, ...rest] = problemsOfText(scenario('rate: 1e9, duration: 1s'));
    assert.equal(rest.length, 0);
    assert.match(problem!, /^load\.rate: must be a number of requests per second, 1–100000 .*got 1000000000$/);
    assert.equal(RATE_MAX, 100_000);
  });

  test('load.rate 1e-9 is refused with the floor in the message', () => {
    assert.deepEqual(problemsOfText(scenario('rate: 1e-9, duration: 1s')), [
      `load.rate: must be a number of requests per second, ${RATE_MIN}–${RATE_MAX} (slower rates leave too few requests in a measured window for any percentile), got 1e-9`,
    ]);
  });

  test('the bounds themselves are accepted', () => {
    for (const rate of [RATE_MIN, RATE_MAX]) {
      assert.equal(parseScenario(scenario(`rate: ${rate}, duration: 1s, connections: 1`), 'x').load.rate, rate);
    }
  });

  test('a name of 10 000 characters is refused without being echoed whole', () => {
    const problems = problemsOfText(scenario('rate: 10, duration: 1s', 'a'.repeat(10_000)));
    assert.deepEqual(problems, [`name: must be at most ${NAME_MAX} characters (lowercase letters, digits and dashes), got 10000 characters`]);
  });

  test('a name with markup or control characters is refused, quoted and cut', () => {
    const [problem] = problemsOfText(`name: "<script>alert(1)</script>\\u0007"\nservices: [1]\nload: { rate: 10, duration: 1s }\n`);
    assert.match(problem!, /^name: must be lowercase letters, digits and dashes \(\[a-z0-9-\]\+\), got "<script>alert\(1\)<\/script>\\u0007"$/);
  });

  test('an unknown key of 1000 characters is cut in the message', () => {
    const [problem] = problemsOfText(`${scenario('rate: 10, duration: 1s')}"${'k'.repeat(1000)}": 1\n`);
    assert.ok(problem!.length < 400, problem);
    assert.match(problem!, /unknown key "k{37}…"/);
  });

  test('every other numeric bound says what it is', () => {
    const problems = problemsOfText(
      'name: x\nservices: [100000]\nrepeats: 1000\nworkload: { responseBytes: 1e12, delay: 60m }\n' +
        'load: { rate: 10, connections: 100000, duration: 6000m, warmup: 6000m }\n',
    );
    assert.deepEqual(problems, [
      'services[0]: must be an integer 1–200, got 100000',
      'workload.responseBytes: must be an integer 0–1048576 (bytes, at most 1 MiB), got 1000000000000',
      'workload.delay: must be at most 10s, got "60m"',
      'load.connections: must be an integer 1–1024, got 100000',
      'load.duration: must be at most 60m, got "6000m"',
      'load.warmup: must be at most 60m, got "6000m"',
      'repeats: must be an integer 1–100, got 1000',
    ]);
  });
});

describe('hostile scenario files: one problem each, never a crash', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshbench-scenario-faults-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a YAML alias bomb is refused before it expands', async () => {
    const path = join(dir, 'bomb.yaml');
    writeFileSync(path, aliasBomb());
    const started = process.hrtime.bigint();
    const problems = await problemsOfFile(path);
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'refused quickly');
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^: YAML aliases expand too far \(a scenario needs none; at most 100 alias expansions\)/);
  });

  test('a file that is not UTF-8 names the first bad byte', async () => {
    const path = join(dir, 'latin1.yaml');
    writeFileSync(path, Buffer.from('name: caf\xe9\nservices: [1]\n', 'latin1'));
    assert.deepEqual(await problemsOfFile(path), [': the file is not UTF-8 text (invalid byte 0xe9 at byte 9); save it as UTF-8']);
  });

  test('a UTF-8 byte-order mark is fine', async () => {
    const path = join(dir, 'bom.yaml');
    writeFileSync(path, `\ufeff${scenario('rate: 10, duration: 1s, connections: 1')}`);
    assert.equal((await loadScenarioFile(path)).name, 'faults');
  });

  test('a huge file is refused without being read whole', async () => {
    const path = join(dir, 'huge.yaml');
    writeFileSync(path, `# ${'x'.repeat(SCENARIO_FILE_MAX_BYTES * 2)}\n`);
    assert.deepEqual(await problemsOfFile(path), [': the file is too large for a scenario: at most 1024 KiB, got 2048 KiB']);
  });

  test('a device, a FIFO and a directory are not scenario files', async () => {
    assert.deepEqual(await problemsOfFile('/dev/zero'), [': cannot read the file: it is not a regular file (a device, FIFO or socket), expected a .yaml file']);
    const fifo = join(dir, 'fifo.yaml');
    spawnSync('mkfifo', [fifo]);
    assert.deepEqual(await problemsOfFile(fifo), [': cannot read the file: it is not a regular file (a device, FIFO or socket), expected a .yaml file']);
    const sub = join(dir, 'sub.yaml');
    mkdirSync(sub);
    assert.deepEqual(await problemsOfFile(sub), [': cannot read the file: it is a directory, expected a .yaml file']);
  });

  test('through the CLI: validate and run exit 2 with one line per problem, no stack', () => {
    const bomb = join(dir, 'bomb-cli.yaml');
    writeFileSync(bomb, aliasBomb());
    const absurd = join(dir, 'absurd.yaml');
    writeFileSync(absurd, scenario('rate: 1e9, duration: 1s', 'a'.repeat(10_000)));
    for (const args of [['validate', bomb, absurd], ['run', bomb, '--out', dir], ['run', absurd, '--out', dir]]) {
      const r = spawnSync(process.execPath, ['bin/meshbench.js', ...args], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.doesNotMatch(r.stderr, /ReferenceError|RangeError/);
      assert.ok(r.stderr.length < 2000, r.stderr);
    }
  });
});
