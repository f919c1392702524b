// The native parts of the harness (native/: the load driver, the workload server), built on
// first use when a binary is missing or older than its sources. scripts/setup.sh builds them
// (`make -C native`) and the Dockerfile does for the image; this catches an edited source or
// a skipped set-up. One lock serialises builds by concurrent harness processes (the Makefile
// writes each binary through a .tmp file).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NATIVE_DIR = fileURLToPath(new URL('../native/', import.meta.url));
const NATIVE_BUILD_LOCK = '/tmp/meshbench-native-build.lock';

/** native/build/<name>: the binary of native/<name>.c. */
export function nativeBinaryPath(name: string): string {
  return join(NATIVE_DIR, 'build', name);
}

const built = new Set<string>();

/**
 * The path of native/build/<name>, built first (make build/<name>) when it is missing or
 * older than <name>.c, a header or the Makefile; throws with make's stderr. `what` names it
 * in the error ("load driver", "workload server").
 */
export function ensureNativeBinary(name: string, what: string): string {
  const path = nativeBinaryPath(name);
  if (built.has(name)) return path;
  const sources = readdirSync(NATIVE_DIR).filter((f) => f === `${name}.c` || f.endsWith('.h') || f === 'Makefile');
  const builtMs = existsSync(path) ? statSync(path).mtimeMs : 0;
  if (sources.some((f) => statSync(join(NATIVE_DIR, f)).mtimeMs > builtMs)) {
    mkdirSync(join(NATIVE_DIR, 'build'), { recursive: true });
    const r = spawnSync('flock', [NATIVE_BUILD_LOCK, 'make', '-s', '-C', NATIVE_DIR, `build/${name}`], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0 || !existsSync(path)) {
      throw new Error(
        `the native ${what} did not build (make -C native build/${name}, exit ${r.status ?? r.signal ?? r.error?.message}); ` +
          `scripts/setup.sh installs what it needs (gcc, libnghttp2-dev)\n${(r.stderr ?? '').trim().slice(-2000)}`,
      );
    }
  }
  built.add(name);
  return path;
}
