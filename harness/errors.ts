// Typed errors; the CLI entry maps them to exit codes in one place.

export interface InputProblem {
  /** Field path, e.g. `meshes[1]` or `load.rate`; '' for the whole input. */
  path: string;
  message: string;
}

/** Bad input (scenario file, CLI flag, result file): exit code 2, nothing created. */
export class InputError extends Error {
  constructor(
    readonly source: string,
    readonly problems: InputProblem[],
  ) {
    super(formatProblems(source, problems));
    this.name = 'InputError';
  }
}

export function formatProblems(source: string, problems: InputProblem[]): string {
  const head = `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`;
  return [head, ...problems.map((p) => `  ${p.path || '(file)'}: ${p.message}`)].join('\n');
}

/** The host cannot run what was asked (not root, missing tool, no BTF): exit code 1. */
export class HostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostError';
  }
}

/**
 * A path the user named that cannot take what meshbench must write there (`--out` naming a
 * file, a read-only or unwritable directory): exit code 2, one line.
 */
export class OutputPathError extends InputError {
  constructor(
    readonly outputPath: string,
    reason: string,
  ) {
    super(outputPath, [{ path: '', message: reason }]);
    this.name = 'OutputPathError';
    this.message = `meshbench: ${outputPath}: ${reason}`;
  }
}

/** Codes of a host that has run out of room or broke (exit 1), not of a bad path (exit 2). */
const HOST_FS_CODES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on the host',
};
/** Codes that mean the path itself cannot be written (the user's input). */
const PATH_FS_CODES: Record<string, string> = {
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'exists and is not a directory',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENAMETOOLONG: 'the path is too long',
  ENOENT: 'a directory on the path does not exist',
};

/**
 * A file-system error of writing `path` as a typed error with one line: HostError for a full
 * or broken disk, OutputPathError for a path that cannot be written; undefined for others.
 */
export function fileSystemError(error: unknown, path: string, doing = 'writing'): HostError | OutputPathError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return undefined;
  const host = HOST_FS_CODES[code];
  if (host !== undefined) return new HostError(`${doing} ${path}: ${host} (${code})`);
  const bad = PATH_FS_CODES[code];
  if (bad !== undefined) return new OutputPathError(path, `cannot be written (${doing}): ${bad} (${code})`);
  return undefined;
}

/** fileSystemError(), or the error itself when it is no file-system error: for rethrowing. */
export function asFileSystemError(error: unknown, path: string, doing = 'writing'): unknown {
  return fileSystemError(error, path, doing) ?? error;
}
