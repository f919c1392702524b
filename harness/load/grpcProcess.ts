// Runs the gRPC driver (grpcDriverMain.ts) in a child process behind a command prefix
// (taskset, ip netns exec…), as process.ts does for the HTTP driver.
import { fileURLToPath } from 'node:url';
import type { GrpcDriverOutcome } from './grpcDriver.ts';
import type { GrpcLoadSpec } from './grpcSpec.ts';
import { DriverProcessError, TSX_LOADER_URL, driverDeadlineMs, lastJsonLine, runChild, type DriverProcessOptions } from './process.ts';

export const GRPC_DRIVER_MAIN_PATH = fileURLToPath(new URL('./grpcDriverMain.ts', import.meta.url));

export async function runGrpcDriverProcess(
  spec: GrpcLoadSpec,
  spawnPrefix: readonly string[] = [],
  options: DriverProcessOptions = {},
): Promise<GrpcDriverOutcome> {
  const argv = [...spawnPrefix, process.execPath, '--import', TSX_LOADER_URL, GRPC_DRIVER_MAIN_PATH, JSON.stringify(spec)];
  const result = await runChild(argv, { signal: options.signal, onSpawn: options.onSpawn, deadlineMs: driverDeadlineMs(spec) });
  const answer = lastJsonLine(result.stdout);
  if (result.exitCode !== 0 || answer === undefined || 'error' in answer) {
    const why = answer && typeof answer.error === 'string' ? answer.error : `exit ${result.exitCode ?? result.signal}`;
    throw new DriverProcessError(`gRPC load driver failed: ${why}`, result.commandLine, result.exitCode, result.stderr);
  }
  return answer as unknown as GrpcDriverOutcome;
}
