// The command line and start-up the Node workload servers share (httpServer.ts,
// grpcServer.ts; native/server.c takes the same options):
//
//   --host H --port P --response-bytes N --delay-us D [--delay-mode worker|timer|spin]
//
// then one JSON line `{"ready":true,"pid":…,"port":…}` on stdout once listening; a bad
// command line exits 2 with every problem on stderr; SIGTERM/SIGINT close the server.
import { parseArgs } from 'node:util';
import type { PreciseDelayMode } from './preciseDelay.ts';

export interface ServerCliOptions {
  host: string;
  port: number;
  responseBytes: number;
  delayUs: number;
  delayMode: PreciseDelayMode;
}

export function parseServerCli(argv: string[]): ServerCliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '0.0.0.0' },
      port: { type: 'string', default: '8080' },
      'response-bytes': { type: 'string', default: '1024' },
      'delay-us': { type: 'string', default: '0' },
      'delay-mode': { type: 'string', default: 'worker' },
    },
  });
  const port = Number(values.port);
  const responseBytes = Number(values['response-bytes']);
  const delayUs = Number(values['delay-us']);
  const delayMode = values['delay-mode'] as PreciseDelayMode;
  const problems: string[] = [];
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`--port: must be 0–65535, got ${values.port}`);
  if (!Number.isInteger(responseBytes) || responseBytes < 0) problems.push(`--response-bytes: must be an integer ≥ 0, got ${values['response-bytes']}`);
  if (!Number.isFinite(delayUs) || delayUs < 0) problems.push(`--delay-us: must be ≥ 0, got ${values['delay-us']}`);
  if (!['worker', 'timer', 'spin'].includes(delayMode)) problems.push(`--delay-mode: worker, timer or spin, got ${delayMode}`);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return { host: values.host!, port, responseBytes, delayUs, delayMode };
}

export interface StartedServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A server's main(): parse the command line, start, close on SIGTERM/SIGINT, print the
 * ready line. `describe` may return one line for stderr about how it runs.
 */
export async function runServerMain<T extends StartedServer>(
  label: string,
  start: (options: ServerCliOptions) => Promise<T>,
  describe?: (server: T, options: ServerCliOptions) => string | undefined,
): Promise<void> {
  let options: ServerCliOptions;
  try {
    options = parseServerCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${label}: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const server = await start(options);
  const shutdown = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  const line = describe?.(server, options);
  if (line) process.stderr.write(`${label}: ${line}\n`);
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, port: server.port })}\n`);
}
