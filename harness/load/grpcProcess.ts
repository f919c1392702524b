// Runs the Node gRPC driver (driverMain.ts with a GrpcLoadSpec) in a child process behind a
// command prefix (taskset, ip netns exec…), as process.ts does for the HTTP driver.
import { fileURLToPath } from 'node:url';
import type { GrpcDriverOutcome } from './grpcDriver.ts';
import type { GrpcLoadSpec } from './grpcSpec.ts';
import { nodeDriverArgv, runDriverCommand, type DriverProcessOptions } from './process.ts';

/** The gRPC entry kept for callers that name it; it is driverMain.ts (which tells gRPC by the spec's `grpc`). */
export const GRPC_DRIVER_MAIN_PATH = fileURLToPath(new URL('./grpcDriverMain.ts', import.meta.url));

export function runGrpcDriverProcess(
  spec: GrpcLoadSpec,
  spawnPrefix: readonly string[] = [],
  options: DriverProcessOptions = {},
): Promise<GrpcDriverOutcome> {
  return runDriverCommand<GrpcDriverOutcome>([...spawnPrefix, ...nodeDriverArgv(spec)], spec, 'gRPC load driver', options);
}
