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
