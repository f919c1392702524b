// Every `meshbench …` command line in README.md and reports/README.md runs as written once
// the set-up (scripts/setup.sh, part of `npm test` and `npm run bench`) has put `meshbench`
// on the PATH. The lines are read from the READMEs themselves, so a command added there is
// tried here too: placeholders (RUN_DIR, BASE_RUN, HISTORY_DIR, …) are filled with a real run
// made for the test, optional parts ([…]) are left out, and each runs through the PATH's
// `meshbench`. Local commands must succeed; a command for kind or an existing cluster must
// say what it did or why it cannot run here (this host has neither), never with a stack trace.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readCellLines } from '../../harness/results/files.ts';
import { assertNothingLeft, requireRoot } from './helpers.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const READMES = ['README.md', 'reports/README.md'];
const TIMEOUT_MS = 120_000;

/** A run small enough to make in seconds: one mesh, one short cell, no probes. */
const TINY_SCENARIO = `
name: readme-commands
meshes: [baseline]
services: [1]
load: { model: open, rate: 100, connections: 2, duration: 1s, warmup: 500ms }
repeats: 1
probes: []
`;

interface ReadmeCommand {
  file: string;
  line: number;
  text: string;
}

/** The lines of the READMEs' code blocks that are meshbench command lines. */
export function readmeCommands(root: string): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  for (const file of READMES) {
    let inBlock = false;
    readFileSync(join(root, file), 'utf8').split('\n').forEach((raw, i) => {
      if (raw.trimStart().startsWith('```')) {
        inBlock = !inBlock;
        return;
      }
      const text = raw.replace(/\s+#.*$/, '').trim(); // a trailing comment is not part of the command
      if (inBlock && /^meshbench\s/.test(text)) commands.push({ file, line: i + 1, text });
    });
  }
  return commands;
}

interface Places {
  scenario: string;
  runDir: string;
  /** A run stopped by SIGINT after its first cell: what `run --resume` continues. */
  interrupted: string;
  runId: string;
  history: string;
  scratch: string;
}

/** The command as argv: placeholders filled, optional […] groups dropped. */
function argvOf(text: string, places: Places): string[] {
  // `[scenario.yaml]` is the one optional part worth giving: without it `run` runs quick.yaml (minutes).
  const withScenario = text.replace(/\[scenario\.yaml\]/g, places.scenario);
  const withoutOptional = withScenario.replace(/\[[^\]]*\]/g, ' ');
  let outIndex = 0;
  return withoutOptional.split(/\s+/).filter(Boolean).slice(1).map((word) => {
    switch (word.replace(/…$/, '')) {
      case 'scenario.yaml': return places.scenario;
      case 'RUN_DIR': return text.includes('--resume') ? places.interrupted : places.runDir;
      case 'BASE_RUN':
      case 'NEW_RUN': return places.runDir;
      case 'HISTORY_DIR': return places.history;
      case 'SITE_DIR':
      case 'DIR': return join(places.scratch, `out-${++outIndex}`);
      case 'FILE': return join(places.scratch, `file-${++outIndex}`);
      case 'ID': return places.runId;
      default: return word;
    }
  });
}

/** Commands for a cluster: they cannot succeed on this host, only explain why not. */
function needsCluster(argv: string[]): boolean {
  return argv.some((a) => a === 'kind' || a === 'kubernetes' || /-kind\.yaml$/.test(a) || a === '--context');
}

function meshbenchOnPath(
  args: string[],
  onSpawn?: (child: ReturnType<typeof spawn>) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn('meshbench', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGINT'), TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Run directories under the clone's runs/ (where `run` writes without --out). */
function defaultRunDirs(): string[] {
  try {
    return readdirSync(join(ROOT, 'runs'));
  } catch {
    return [];
  }
}

describe('the READMEs’ meshbench command lines', () => {
  let places: Places;
  let scratch: string | undefined;
  const runsBefore = new Set(defaultRunDirs());
  before(async () => {
    requireRoot();
    const onPath = execFileSync('sh', ['-c', 'command -v meshbench'], { encoding: 'utf8' }).trim();
    assert.equal(realpathSync(onPath), join(ROOT, 'bin', 'meshbench.js'), 'meshbench on the PATH is this clone’s (scripts/setup.sh links it)');
    scratch = mkdtempSync(join(tmpdir(), 'meshbench-readme-'));
    const history = join(scratch, 'history');
    mkdirSync(history);
    const scenario = join(scratch, 'tiny.yaml');
    writeFileSync(scenario, TINY_SCENARIO);
    const made = await meshbenchOnPath(['run', scenario, '--out', history]);
    assert.equal(made.code, 0, `the run the commands read: ${made.stderr}`);
    const [runId] = readdirSync(history);
    // A second run of two cells, interrupted (SIGINT, as Ctrl-C) once its first cell is on disk.
    const interruptedOut = join(scratch, 'interrupted');
    const twoCells = join(scratch, 'two-cells.yaml');
    writeFileSync(twoCells, TINY_SCENARIO.replace('repeats: 1', 'repeats: 2'));
    const stopped = await meshbenchOnPath(['run', twoCells, '--out', interruptedOut], (child) => {
      const poll = setInterval(() => {
        const [dir] = existsSync(interruptedOut) ? readdirSync(interruptedOut) : [];
        if (dir && readCellLines(join(interruptedOut, dir)).cells.length >= 1) {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 100);
      child.on('close', () => clearInterval(poll));
    });
    assert.notEqual(stopped.code, 0, `the interrupted run stopped early: ${stopped.stderr}`);
    const [interruptedId] = readdirSync(interruptedOut);
    places = { scenario, runDir: join(history, runId!), interrupted: join(interruptedOut, interruptedId!), runId: runId!, history, scratch };
  });
  after(async () => {
    if (scratch) rmSync(scratch, { recursive: true, force: true }); // also when before() failed half-way
    for (const dir of defaultRunDirs().filter((d) => !runsBefore.has(d))) rmSync(join(ROOT, 'runs', dir), { recursive: true, force: true });
    await assertNothingLeft();
  });

  const commands = readmeCommands(ROOT);
  test('the READMEs show command lines', () => {
    for (const verb of ['run', 'validate', 'report', 'compare', 'export', 'dashboard', 'doctor', 'clean']) {
      assert.ok(commands.some((c) => c.text.startsWith(`meshbench ${verb}`)), `a "meshbench ${verb}" line`);
    }
  });

  for (const command of commands) {
    test(`${command.file}:${command.line}  ${command.text}`, { timeout: TIMEOUT_MS + 10_000 }, async () => {
      const argv = argvOf(command.text, places);
      const { code, stdout, stderr } = await meshbenchOnPath(argv);
      const said = `meshbench ${argv.join(' ')} → exit ${code}\n${stderr}${stdout.slice(0, 2000)}`;
      assert.doesNotMatch(stderr, /\n\s+at .+:\d+:\d+\)?\n/, `no stack trace: ${said}`);
      if (needsCluster(argv)) {
        assert.ok(code === 0 || code === 1 || code === 2, `exit 0, 1 or 2: ${said}`);
        assert.ok((stderr + stdout).trim().length > 0, `says what it did or why it cannot run here: ${said}`);
      } else {
        assert.equal(code, 0, said);
      }
    });
  }
});
