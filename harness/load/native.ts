// The native driver (native/build/driver, from native/driver.c): C, one thread, epoll,
// open model met by a short sleep and a spin, HTTP/1.1 keep-alive and gRPC over h2c through
// libnghttp2, µs into an HDR-compatible histogram (native/hist.h) that hdr-histogram-js
// decodes. It speaks driverMain's protocol (`{"phase":"measure"}`, then one DriverOutcome
// line) and takes the same LoadSpec (a GrpcLoadSpec for gRPC cells) as its one argument.
// Built by scripts/setup.sh (`make -C native`) and by the Dockerfile.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GrpcDriverOutcome } from './grpcDriver.ts';
import type { GrpcLoadSpec } from './grpcSpec.ts';
import { runDriverCommand, type DriverProcessOptions } from './process.ts';
import type { DriverOutcome, LoadDriver, LoadSpec } from './types.ts';

export const NATIVE_DRIVER_NAME = 'native';
const NATIVE_DIR = fileURLToPath(new URL('../../native/', import.meta.url));
export const NATIVE_DRIVER_PATH = join(NATIVE_DIR, 'build', 'driver');
/** Serialises builds of native/ by concurrent harness processes (shared with workload/servers.ts). */
const NATIVE_BUILD_LOCK = '/tmp/meshbench-native-build.lock';

let built = false;

/**
 * The driver's path, built first when it is missing or older than its sources (scripts/setup.sh
 * builds it; this catches an edited source or a skipped set-up). Throws with make's stderr.
 */
export function ensureNativeDriver(): string {
  if (built) return NATIVE_DRIVER_PATH;
  const sources = readdirSync(NATIVE_DIR).filter((f) => f === 'driver.c' || f.endsWith('.h') || f === 'Makefile');
  const builtMs = existsSync(NATIVE_DRIVER_PATH) ? statSync(NATIVE_DRIVER_PATH).mtimeMs : 0;
  if (sources.some((f) => statSync(join(NATIVE_DIR, f)).mtimeMs > builtMs)) {
    mkdirSync(join(NATIVE_DIR, 'build'), { recursive: true });
    const r = spawnSync('flock', [NATIVE_BUILD_LOCK, 'make', '-s', '-C', NATIVE_DIR, 'build/driver'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0 || !existsSync(NATIVE_DRIVER_PATH)) {
      throw new Error(
        `the native load driver did not build (make -C native build/driver, exit ${r.status ?? r.signal ?? r.error?.message}); ` +
          `scripts/setup.sh installs what it needs (gcc, libnghttp2-dev)\n${(r.stderr ?? '').trim().slice(-2000)}`,
      );
    }
  }
  built = true;
  return NATIVE_DRIVER_PATH;
}

/** The argv that runs the native driver on `spec` (HTTP/1.1, or gRPC when it has `grpc`). */
export function nativeDriverArgv(spec: LoadSpec | GrpcLoadSpec, binary = NATIVE_DRIVER_PATH): string[] {
  return [binary, JSON.stringify(spec)];
}

/** "meshbench-native/1 nghttp2/1.52.0", from the binary itself; throws when it is not built. */
export function nativeDriverVersion(binary = ensureNativeDriver()): string {
  const out = JSON.parse(execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 5_000 })) as { version: string };
  return out.version;
}

/** Runs the native driver behind `spawnPrefix` (taskset, ip netns exec…) and returns its outcome. */
export function runNativeDriverProcess(spec: GrpcLoadSpec, spawnPrefix?: readonly string[], options?: DriverProcessOptions): Promise<GrpcDriverOutcome>;
export function runNativeDriverProcess(spec: LoadSpec, spawnPrefix?: readonly string[], options?: DriverProcessOptions): Promise<DriverOutcome>;
export function runNativeDriverProcess(
  spec: LoadSpec | GrpcLoadSpec,
  spawnPrefix: readonly string[] = [],
  options: DriverProcessOptions = {},
): Promise<DriverOutcome | GrpcDriverOutcome> {
  try {
    ensureNativeDriver();
  } catch (err) {
    return Promise.reject(err);
  }
  const label = 'grpc' in spec ? 'native gRPC load driver' : 'native load driver';
  return runDriverCommand([...spawnPrefix, ...nativeDriverArgv(spec)], spec, label, options);
}

export const nativeDriver: LoadDriver = {
  name: 'native',
  run: (spec, options = {}) => runNativeDriverProcess(spec, options.spawnPrefix ?? [], { signal: options.signal, onSpawn: options.onSpawn }),
};
