// Node entry points as plain JavaScript files, for starting many processes fast.
//
// A server started through tsx compiles its TypeScript at every start: ~0.4 s of CPU and
// ~77 MB RSS per process here, which a 100-service cell pays 100 times on the pods' CPU.
// The same source bundled by esbuild (tsx's own dependency, so nothing new is installed)
// starts in ~0.1 s of CPU with ~46 MB RSS (measured: tsx 380–440 ms CPU, bundle 90–130 ms).
// It is the same code — for the HTTP server httpServer.ts and preciseDelay.ts, µs delay and
// /_meshbench/stats included — only without the compiler in every process.
//
// Built once per harness process, on first use, into node_modules/.cache/meshbench/ under a
// name that carries the bundle's content hash: an edited source gives a new file, never a
// stale one, and concurrent harness processes write the same bytes (atomically) or reuse them.
// Only for entries that read no files relative to their own source at run time.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TSX_LOADER } from '../tsx.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BUNDLE_CACHE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'meshbench');
export const WORKLOAD_SERVER_SOURCE = fileURLToPath(new URL('./httpServer.ts', import.meta.url));

type Esbuild = typeof import('esbuild');

/** esbuild as tsx resolves it (it is tsx's dependency, not a direct one of meshbench). */
function loadEsbuild(): Esbuild {
  return createRequire(TSX_LOADER)('esbuild') as Esbuild;
}

const bundles = new Map<string, string>();

/** Bundles `entry` (TypeScript, ESM) for Node 20, once per process; returns the .mjs path. */
export function bundledScript(entry: string): string {
  const cached = bundles.get(entry);
  if (cached !== undefined) return cached;
  const out = loadEsbuild().buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    // In the bundle `import.meta.url` is the bundle's own URL, so an entry's main-module
    // check (import.meta.url === pathToFileURL(process.argv[1])) still runs its main().
    // CommonJS dependencies (grpc-js for the gRPC server) require Node's built-ins: an ESM
    // bundle has no `require`, so the banner makes one (esbuild's shim uses it when present).
    banner: {
      js:
        `// bundled from ${entry} by meshbench (harness/workload/serverBundle.ts); do not edit\n` +
        "import { createRequire as __meshbenchCreateRequire } from 'node:module';\n" +
        'const require = __meshbenchCreateRequire(import.meta.url);',
    },
  });
  const code = out.outputFiles[0]!.contents;
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const name = entry.replace(/^.*\//, '').replace(/\.[cm]?ts$/, '');
  mkdirSync(BUNDLE_CACHE_DIR, { recursive: true });
  const path = join(BUNDLE_CACHE_DIR, `${name}-${hash}.mjs`);
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, path);
  }
  bundles.set(entry, path);
  return path;
}

/** argv that runs `entry` bundled: plain `node FILE …`, no loader. */
export function bundledNodeArgv(entry: string, args: readonly string[]): string[] {
  return [process.execPath, bundledScript(entry), ...args];
}
