// Reading scenario files: YAML text → validated Scenario, or an InputError that lists
// every problem (YAML syntax with line:column, then schema problems with field paths).
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { InputError, formatProblems, type InputProblem } from '../errors.ts';
import { validateScenario } from './schema.ts';
import type { Scenario } from './types.ts';

/** Parses and validates scenario YAML; `sourceName` names it in messages (usually the path). */
export function parseScenario(text: string, sourceName: string): Scenario {
  const result = checkScenarioText(text);
  if (!result.ok) throw new InputError(sourceName, result.problems);
  return result.scenario;
}

/** Reads, parses and validates a scenario file. Throws InputError with every problem. */
export async function loadScenarioFile(path: string): Promise<Scenario> {
  const result = await checkScenarioFile(path);
  if (!result.ok) throw new InputError(path, result.problems);
  return result.scenario;
}

/**
 * Validates several files and renders what `meshbench validate` prints: `<path>: ok` for a
 * good file, the problem list of InputError for a bad one. `ok` is false if any file is bad
 * (the CLI maps that to exit code 2).
 */
export async function validateFiles(paths: readonly string[]): Promise<{ ok: boolean; output: string }> {
  if (paths.length === 0) return { ok: false, output: 'no scenario files given' };
  const lines: string[] = [];
  let ok = true;
  for (const path of paths) {
    const result = await checkScenarioFile(path);
    if (result.ok) {
      lines.push(`${path}: ok`);
    } else {
      ok = false;
      lines.push(formatProblems(path, result.problems));
    }
  }
  return { ok, output: lines.join('\n') };
}

type Checked = { ok: true; scenario: Scenario } | { ok: false; problems: InputProblem[] };

async function checkScenarioFile(path: string): Promise<Checked> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { ok: false, problems: [{ path: '', message: readFailure(error) }] };
  }
  return checkScenarioText(text);
}

function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'cannot read the file: it does not exist';
  if (code === 'EISDIR') return 'cannot read the file: it is a directory, expected a .yaml file';
  if (code === 'EACCES') return 'cannot read the file: permission denied';
  return `cannot read the file: ${(error as Error).message}`;
}

function checkScenarioText(text: string): Checked {
  const document = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    // Schema problems on a half-parsed document would mostly be echoes of the syntax error.
    return {
      ok: false,
      problems: document.errors.map((error) => {
        const position = error.linePos?.[0];
        const where = position ? `${position.line}:${position.col}: ` : '';
        return { path: '', message: `YAML syntax error at ${where}${firstLine(error.message)}` };
      }),
    };
  }
  const data: unknown = document.toJS();
  if (data === null || data === undefined) {
    return {
      ok: false,
      problems: [{ path: '', message: 'the file is empty; expected a scenario mapping with at least name, services and load' }],
    };
  }
  return validateScenario(data);
}

/** yaml's messages end with " at line L, column C" and a code excerpt; the position is shown once, up front. */
function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
