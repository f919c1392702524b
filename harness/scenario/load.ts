// Reading scenario files: YAML text → validated Scenario, or an InputError that lists
// every problem (YAML syntax with line:column, then schema problems with field paths).
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
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

/** A scenario is a page of YAML; anything this large is not one (and is not read whole). */
export const SCENARIO_FILE_MAX_BYTES = 1024 * 1024;
/**
 * Aliases a scenario may expand. A scenario needs none; an "alias bomb" (9 levels × 9
 * aliases) expands to billions of nodes. yaml's own limit throws a bare ReferenceError.
 */
export const YAML_ALIASES_MAX = 100;

async function checkScenarioFile(path: string): Promise<Checked> {
  let bytes: Buffer;
  try {
    bytes = await readScenarioBytes(path);
  } catch (error) {
    return { ok: false, problems: [{ path: '', message: readFailure(error) }] };
  }
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) return { ok: false, problems: [{ path: '', message: decoded.message }] };
  return checkScenarioText(decoded.text);
}

/** Only a regular file, and only up to the size limit (a FIFO or /dev/zero would never end). */
async function readScenarioBytes(path: string): Promise<Buffer> {
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'MB_NOT_FILE' });
    if (stat.size > SCENARIO_FILE_MAX_BYTES) throw Object.assign(new Error('too large'), { code: 'MB_TOO_LARGE', size: stat.size });
    const buffer = Buffer.alloc(SCENARIO_FILE_MAX_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > SCENARIO_FILE_MAX_BYTES) throw Object.assign(new Error('too large'), { code: 'MB_TOO_LARGE', size: length });
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'cannot read the file: it does not exist';
  if (code === 'EISDIR') return 'cannot read the file: it is a directory, expected a .yaml file';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot read the file: permission denied';
  if (code === 'MB_NOT_FILE') return 'cannot read the file: it is not a regular file (a device, FIFO or socket), expected a .yaml file';
  if (code === 'MB_TOO_LARGE') {
    const size = (error as { size: number }).size;
    return `the file is too large for a scenario: at most ${SCENARIO_FILE_MAX_BYTES / 1024} KiB, got ${size > SCENARIO_FILE_MAX_BYTES + 1 ? `${(size / 1024).toFixed(0)} KiB` : 'more'}`;
  }
  if (code === 'EIO') return 'cannot read the file: input/output error';
  return `cannot read the file: ${code ?? (error as Error).message}`;
}

/** Strict UTF-8 (a BOM is dropped); the first bad byte's offset in the message. */
function decodeUtf8(bytes: Buffer): { ok: true; text: string } | { ok: false; message: string } {
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes) };
  } catch {
    let offset = 0;
    // Find the first byte where decoding breaks: decode growing prefixes at sequence boundaries.
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      const length = byte < 0x80 ? 1 : byte >= 0xc2 && byte < 0xe0 ? 2 : byte >= 0xe0 && byte < 0xf0 ? 3 : byte >= 0xf0 && byte < 0xf5 ? 4 : 0;
      const sequence = bytes.subarray(i, i + length);
      let valid = length > 0 && sequence.length === length;
      if (valid && length > 1) {
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(sequence);
        } catch {
          valid = false;
        }
      }
      if (!valid) {
        offset = i;
        break;
      }
      i += length - 1;
    }
    return { ok: false, message: `the file is not UTF-8 text (invalid byte 0x${bytes[offset]?.toString(16).padStart(2, '0')} at byte ${offset}); save it as UTF-8` };
  }
}

function checkScenarioText(text: string): Checked {
  if (text.length > SCENARIO_FILE_MAX_BYTES) {
    return { ok: false, problems: [{ path: '', message: `the text is too large for a scenario: at most ${SCENARIO_FILE_MAX_BYTES / 1024} KiB` }] };
  }
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
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: YAML_ALIASES_MAX });
  } catch (error) {
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      return {
        ok: false,
        problems: [{ path: '', message: `YAML aliases expand too far (a scenario needs none; at most ${YAML_ALIASES_MAX} alias expansions): ${firstLine(error.message)}` }],
      };
    }
    return { ok: false, problems: [{ path: '', message: `YAML cannot be read as data: ${firstLine((error as Error).message)}` }] };
  }
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
