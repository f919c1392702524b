// Entry for running the autocannon driver in a process of its own (the harness starts it in
// the client pod's netns + cgroup, pinned to the driver's CPU):
//   node --import tsx harness/load/driverMain.ts '<LoadSpec JSON>'
// stdout: `{"phase":"measure"}` when the measured window opens (the local runner starts
// its CPU and eBPF counters on it), then exactly one result line: the outcome (LoadOutcome +
// accounting), or `{"error": "..."}` and a non-zero exit. Readers take the last JSON line
// (process.ts: lastJsonLine). Diagnostics go to stderr. SIGTERM/SIGINT abort.
import { runAutocannonLoad } from './autocannon.ts';
import { parseLoadSpec } from './spec.ts';

function fail(message: string, exitCode: number): void {
  process.stdout.write(`${JSON.stringify({ error: message })}\n`);
  process.exitCode = exitCode;
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === undefined) return fail('usage: driverMain.ts <LoadSpec JSON>', 2);
  let input: unknown;
  try {
    input = JSON.parse(arg);
  } catch (err) {
    return fail(`LoadSpec is not JSON: ${(err as Error).message}`, 2);
  }
  let spec;
  try {
    spec = parseLoadSpec(input, 'LoadSpec');
  } catch (err) {
    return fail((err as Error).message, 2);
  }
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => abort.abort(new Error(`driver got ${signal}`));
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const outcome = await runAutocannonLoad(spec, {
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
