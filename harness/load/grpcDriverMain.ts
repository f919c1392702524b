// Entry for running the gRPC driver in a process of its own (the harness starts it in the
// client pod's netns + cgroup, pinned to the driver's CPU), with driverMain.ts's protocol:
//   node --import tsx harness/load/grpcDriverMain.ts '<GrpcLoadSpec JSON>'
// stdout: `{"phase":"measure"}` when the measured window opens, then exactly one result
// line: the outcome (LoadOutcome + accounting + grpc figures), or `{"error": "..."}` and a
// non-zero exit. Diagnostics go to stderr. SIGTERM/SIGINT abort.
import { runGrpcLoad } from './grpcDriver.ts';
import { parseGrpcLoadSpec, type GrpcLoadSpec } from './grpcSpec.ts';

function fail(message: string, exitCode: number): void {
  process.stdout.write(`${JSON.stringify({ error: message })}\n`);
  process.exitCode = exitCode;
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === undefined) return fail('usage: grpcDriverMain.ts <GrpcLoadSpec JSON>', 2);
  let spec: GrpcLoadSpec;
  try {
    spec = parseGrpcLoadSpec(JSON.parse(arg), 'GrpcLoadSpec');
  } catch (err) {
    return fail((err as Error).message, 2);
  }
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => abort.abort(new Error(`driver got ${signal}`));
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const outcome = await runGrpcLoad(spec, {
      signal: abort.signal,
      onMeasureStart: () => process.stdout.write(`${JSON.stringify({ phase: 'measure' })}\n`),
    });
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
  } catch (err) {
    fail((err as Error).message, 1);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

await main();
