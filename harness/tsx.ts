// Node processes the harness starts — servers, load drivers, probe agents, test clients —
// run its TypeScript through tsx, resolved to an absolute URL once, here, so they start
// from any working directory and inside any pod's namespace.
export const TSX_LOADER = import.meta.resolve('tsx');

/** `node --import <tsx> entry args…` with this Node binary. */
export function tsNodeArgv(entry: string, args: readonly string[] = []): string[] {
  return [process.execPath, '--import', TSX_LOADER, entry, ...args];
}
