// Entry for running a Node driver in a process of its own (the harness starts it in the
// client pod's netns + cgroup, pinned to the driver's CPU):
//   node --import tsx harness/load/driverMain.ts [--driver autocannon|wrk] '<LoadSpec JSON>'
// A spec with `grpc` (a GrpcLoadSpec) runs the Node gRPC driver (grpcDriver.ts); otherwise
// the autocannon-based HTTP/1.1 driver, or wrk (closed model only) with `--driver wrk`.
// (The native driver, native/build/driver, speaks the same protocol without this entry.)
// stdout: `{"phase":"measure"}` when the measured window opens (the local runner starts
// its CPU and eBPF counters on it), then exactly one result line: the outcome (LoadOutcome +
// accounting [+ grpc figures]), or `{"error": "..."}` and a non-zero exit. Readers take the
// last JSON line (process.ts: lastJsonLine). Diagnostics go to stderr. SIGTERM/SIGINT abort.
import { createRequire } from 'node:module';
import { runAutocannonLoad } from './autocannon.ts';
import { GRPC_USER_AGENT, runGrpcLoad } from './grpcDriver.ts';
import { parseGrpcLoadSpec } from './grpcSpec.ts';
import { parseLoadSpec } from './spec.ts';
import type { DriverOutcome } from './types.ts';
import { runWrkLoad } from './wrk.ts';

function fail(message: string, exitCode: number): void {
  process.stdout.write(`${JSON.stringify({ error: message })}\n`);
  process.exitCode = exitCode;
}

function autocannonVersion(): string {
  const require = createRequire(import.meta.url);
  return `autocannon ${(require('autocannon/package.json') as { version: string }).version} node ${process.version}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let driver = 'autocannon';
  if (args[0] === '--driver') {
    driver = args[1] ?? '';
    args.splice(0, 2);
  }
  if (args.length !== 1 || (driver !== 'autocannon' && driver !== 'wrk')) {
    return fail('usage: driverMain.ts [--driver autocannon|wrk] <LoadSpec JSON>', 2);
  }
  let input: unknown;
  try {
    input = JSON.parse(args[0]!);
  } catch (err) {
    return fail(`LoadSpec is not JSON: ${(err as Error).message}`, 2);
  }
  const grpc = typeof input === 'object' && input !== null && 'grpc' in input;
  if (grpc && driver === 'wrk') return fail('wrk speaks HTTP/1.1 only: a gRPC spec needs the native or the Node gRPC driver', 2);
  let run: (signal: AbortSignal, onMeasureStart: () => void) => Promise<DriverOutcome>;
  try {
    if (grpc) {
      const spec = parseGrpcLoadSpec(input, 'GrpcLoadSpec');
      run = async (signal, onMeasureStart) => ({ ...(await runGrpcLoad(spec, { signal, onMeasureStart })), driverVersion: `${GRPC_USER_AGENT} node ${process.version}` });
    } else {
      const spec = parseLoadSpec(input, 'LoadSpec');
      run =
        driver === 'wrk'
          ? (signal, onMeasureStart) => runWrkLoad(spec, { signal, onMeasureStart })
          : async (signal, onMeasureStart) => ({ ...(await runAutocannonLoad(spec, { signal, onMeasureStart })), driverVersion: autocannonVersion() });
    }
  } catch (err) {
    return fail((err as Error).message, 2);
  }
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => abort.abort(new Error(`driver got ${signal}`));
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const outcome = await run(abort.signal, () => process.stdout.write(`${JSON.stringify({ phase: 'measure' })}\n`));
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
  } catch (err) {
    fail(abort.signal.aborted ? `load aborted: ${(err as Error).message}` : (err as Error).message, 1);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

await main();
