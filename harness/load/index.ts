// The load stage's public face: pick a driver by name, run it behind a spawn prefix, or get
// the command that runs it (the runner spawns that in the client pod itself).
import type { GrpcLoadSpec } from './grpcSpec.ts';
import { ensureNativeDriver, nativeDriver, nativeDriverArgv } from './native.ts';
import { nodeDriverArgv, runDriverProcess } from './process.ts';
import type { DriverName, LoadDriver, LoadSpec } from './types.ts';
import { wrkDriver } from './wrk.ts';

export type { DriverName, DriverOutcome, DriverRunOptions, LoadAccounting, LoadDriver, LoadSpec, LoadTarget } from './types.ts';
export { DRIVER_NAMES, toLoadOutcome } from './types.ts';
export { runDriverCommand, runDriverProcess, DriverProcessError } from './process.ts';
export { runWrkLoad, wrkDriver } from './wrk.ts';
export { runAutocannonLoad } from './autocannon.ts';
export { nativeDriver, runNativeDriverProcess, NATIVE_DRIVER_PATH } from './native.ts';
export { parseLoadSpec } from './spec.ts';

/** The default of `load.driver`: the one quieter than what it measures (README, "The load drivers"). */
export const DEFAULT_DRIVER: DriverName = 'native';

/** autocannon in a process of its own (driverMain.ts), started behind the spawn prefix. */
export const autocannonDriver: LoadDriver = {
  name: 'autocannon',
  run: (spec, options = {}) => runDriverProcess(spec, options.spawnPrefix ?? [], { signal: options.signal, onSpawn: options.onSpawn }),
};

export function loadDriver(name: DriverName): LoadDriver {
  switch (name) {
    case 'native':
      return nativeDriver;
    case 'wrk':
      return wrkDriver;
    case 'autocannon':
      return autocannonDriver;
  }
}

export interface DriverCommandOptions {
  /** Where the native binary is (another root inside a container image); default this checkout's native/build/driver. */
  nativeBinary?: string;
}

/**
 * The command that runs driver `name` on `spec` in a process of its own and speaks
 * driverMain's protocol (`{"phase":"measure"}`, then one outcome line). A GrpcLoadSpec runs
 * the named driver's gRPC side: native → native/build/driver (libnghttp2), autocannon → the
 * Node gRPC driver; wrk has none (the scenario's validation refuses wrk with gRPC).
 */
export function driverCommand(name: DriverName, spec: LoadSpec | GrpcLoadSpec, options: DriverCommandOptions = {}): string[] {
  switch (name) {
    case 'native':
      return nativeDriverArgv(spec, options.nativeBinary ?? ensureNativeDriver());
    case 'wrk':
      if ('grpc' in spec) throw new Error('wrk speaks HTTP/1.1 only: gRPC cells need driver native or autocannon');
      return nodeDriverArgv(spec, ['--driver', 'wrk']);
    case 'autocannon':
      return nodeDriverArgv(spec);
  }
}

/**
 * The same inside the project image (Dockerfile): node + tsx from `appDir`, the native binary
 * at `appDir`/native/build/driver, wrk from Debian — for a Kubernetes driver Job.
 */
export function imageDriverCommand(name: DriverName, spec: LoadSpec | GrpcLoadSpec, appDir: string): string[] {
  const node = (...args: string[]): string[] => ['node', '--import', 'tsx', 'harness/load/driverMain.ts', ...args, JSON.stringify(spec)];
  switch (name) {
    case 'native':
      return [`${appDir}/native/build/driver`, JSON.stringify(spec)];
    case 'wrk':
      if ('grpc' in spec) throw new Error('wrk speaks HTTP/1.1 only: gRPC cells need driver native or autocannon');
      return node('--driver', 'wrk');
    case 'autocannon':
      return node();
  }
}
