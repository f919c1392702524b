// The native driver (native/build/driver, from native/driver.c): C, one thread, epoll,
// open model met by a short sleep and a spin, HTTP/1.1 keep-alive and gRPC over h2c through
// libnghttp2, µs into an HDR-compatible histogram (native/hist.h) that hdr-histogram-js
// decodes. It speaks driverMain's protocol (`{"phase":"measure"}`, then one DriverOutcome
// line) and takes the same LoadSpec (a GrpcLoadSpec for gRPC cells) as its one argument.
// Built by scripts/setup.sh (`make -C native`) and by the Dockerfile.
import { execFileSync } from 'node:child_process';
import { ensureNativeBinary, nativeBinaryPath } from '../nativeBuild.ts';
import type { GrpcDriverOutcome } from './grpcDriver.ts';
import type { GrpcLoadSpec } from './grpcSpec.ts';
import { runDriverCommand, type DriverProcessOptions } from './process.ts';
import type { DriverOutcome, LoadDriver, LoadSpec } from './types.ts';

export const NATIVE_DRIVER_NAME = 'native';
export const NATIVE_DRIVER_PATH = nativeBinaryPath('driver');

/** The driver's path, built first when it is missing or stale (nativeBuild.ts); throws with make's stderr. */
export function ensureNativeDriver(): string {
  return ensureNativeBinary('driver', 'load driver');
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
