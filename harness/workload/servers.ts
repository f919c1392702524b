// Which program answers in a server pod (scenario key `workload.server`):
//
//   native  native/build/server (native/server.c): C, epoll, one thread; HTTP/1.1 and gRPC
//           (h2c, libnghttp2) on the same port; the delay met by one timerfd plus a short
//           spin. The default on the local platform: the Node servers' own event-loop and GC
//           stalls reach the tail (measured by `npm run bench:server`).
//   node    httpServer.ts (HTTP/1.1) and grpcServer.ts (grpc-js), bundled (serverBundle.ts).
//
// Both take the same command line (--host --port --response-bytes --delay-us), print the
// same ready line and answer the same control paths (/_meshbench/stats, the Stats method),
// so everything that reads a server's counters works with either.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ensureNativeBinary, nativeBinaryPath } from '../nativeBuild.ts';
import type { Protocol, WorkloadServerName } from '../scenario/types.ts';
import { bundledNodeArgv } from './serverBundle.ts';

export const DEFAULT_WORKLOAD_SERVER: WorkloadServerName = 'native';

export const NATIVE_SERVER_PATH = nativeBinaryPath('server');
const HTTP_SERVER = fileURLToPath(new URL('./httpServer.ts', import.meta.url));
const GRPC_SERVER = fileURLToPath(new URL('./grpcServer.ts', import.meta.url));

/** What ran in the server pods, as recorded in a cell's result. */
export interface WorkloadServerInfo {
  /** The scenario's choice. */
  implementation: WorkloadServerName;
  /** The program: meshbench-native-server, meshbench-node-http, meshbench-node-grpc. */
  name: string;
  /** Its version and the libraries that matter (nghttp2, grpc-js, node). */
  version: string;
}

/** The server the scenario names, or the default. */
export function workloadServerOf(workload: { server?: WorkloadServerName }): WorkloadServerName {
  return workload.server ?? DEFAULT_WORKLOAD_SERVER;
}

/** The native server's path, built first when it is missing or stale (nativeBuild.ts). */
export function ensureNativeServer(): string {
  return ensureNativeBinary('server', 'workload server');
}

let nativeInfo: WorkloadServerInfo | undefined;

function nativeServerInfo(): WorkloadServerInfo {
  if (nativeInfo) return nativeInfo;
  const r = spawnSync(ensureNativeServer(), ['--version'], { encoding: 'utf8', timeout: 10_000 });
  let parsed: { name?: string; version?: string; nghttp2?: string } = {};
  try {
    parsed = JSON.parse(r.stdout) as typeof parsed;
  } catch {
    throw new Error(`${NATIVE_SERVER_PATH} --version: not JSON: ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 200)}`);
  }
  nativeInfo = { implementation: 'native', name: parsed.name ?? 'meshbench-native-server', version: `${parsed.version} (nghttp2 ${parsed.nghttp2})` };
  return nativeInfo;
}

function grpcJsVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('@grpc/grpc-js/package.json') as { version: string }).version;
}

/** argv of the server app for `protocol` (the same command line for either implementation). */
export function workloadServerArgv(server: WorkloadServerName, protocol: Protocol, args: readonly string[]): string[] {
  if (server === 'native') return [ensureNativeServer(), ...args];
  // Bundled once into plain JS (serverBundle.ts): a 100-service cell starts 100 of them.
  return bundledNodeArgv(protocol === 'grpc' ? GRPC_SERVER : HTTP_SERVER, args);
}

/** Which program and version answer `protocol` for `server`. */
export function workloadServerInfo(server: WorkloadServerName, protocol: Protocol): WorkloadServerInfo {
  if (server === 'native') return nativeServerInfo();
  if (protocol === 'grpc') return { implementation: 'node', name: 'meshbench-node-grpc', version: `grpc-js ${grpcJsVersion()}, node ${process.version}` };
  return { implementation: 'node', name: 'meshbench-node-http', version: `node ${process.version}` };
}
