// One object per protocol, chosen once per cell: which server app runs in the server pods,
// which load driver in the client pod, and what the mesh proxies must speak. The runner
// asks it and never branches on the protocol itself; a new protocol is one entry here.
import { fileURLToPath } from 'node:url';
import { driverCommand } from '../load/index.ts';
import type { LoadSpec } from '../load/types.ts';
import type { GrpcLoadSpec } from '../load/grpcSpec.ts';
import type { ProxyProtocol } from '../proxy/types.ts';
import type { GrpcSettings, Protocol, Scenario } from '../scenario/types.ts';
import { bundledNodeArgv } from '../workload/serverBundle.ts';

const TSX_LOADER = import.meta.resolve('tsx');
const entry = (relative: string): string => fileURLToPath(new URL(relative, import.meta.url));

function nodeArgv(script: string, args: string[]): string[] {
  return [process.execPath, '--import', TSX_LOADER, script, ...args];
}

export interface WorkloadKind {
  readonly protocol: Protocol;
  /** What every proxy on the path speaks, client side and upstream. */
  readonly proxyProtocol: ProxyProtocol;
  /** The server app of a server pod: listens on 0.0.0.0:port, prints a `"ready"` line. */
  serverArgv(scenario: Scenario, port: number): string[];
  /**
   * The load driver of the client pod for `spec`: prints `{"phase":"measure"}` when the
   * measured window opens, then one LoadOutcome line (or `{"error":…}`).
   */
  driverArgv(spec: LoadSpec, scenario: Scenario): string[];
}

function serverArgs(scenario: Scenario, port: number): string[] {
  return [
    '--host', '0.0.0.0',
    '--port', String(port),
    '--response-bytes', String(scenario.workload.responseBytes),
    '--delay-us', String(scenario.workload.delayUs),
  ];
}

const HTTP_SERVER = entry('../workload/httpServer.ts');
const GRPC_SERVER = entry('../workload/grpcServer.ts');

/** What a gRPC cell calls when the scenario names no gRPC settings. */
export const DEFAULT_GRPC_SETTINGS: GrpcSettings = { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1 };

export const HTTP1_WORKLOAD: WorkloadKind = {
  protocol: 'http1',
  proxyProtocol: 'http1',
  // Bundled once into plain JS (serverBundle.ts): a 100-service cell starts 100 of them.
  serverArgv: (scenario, port) => bundledNodeArgv(HTTP_SERVER, serverArgs(scenario, port)),
  // Exactly the driver the scenario names (load.driver), nothing else.
  driverArgv: (spec, scenario) => driverCommand(scenario.load.driver, spec),
};

/** gRPC over h2c end to end: grpc-js server, the meshbench gRPC driver, proxies in HTTP/2. */
export const GRPC_WORKLOAD: WorkloadKind = {
  protocol: 'grpc',
  proxyProtocol: 'h2',
  // Bundled too (serverBundle.ts): grpc-js included, 0.2 s CPU and 59 MB RSS per start
  // instead of 0.7 s and 95 MB through tsx.
  serverArgv: (scenario, port) => bundledNodeArgv(GRPC_SERVER, serverArgs(scenario, port)),
  driverArgv: (spec, scenario) => {
    const grpcSpec: GrpcLoadSpec = { ...spec, grpc: scenario.grpc ?? DEFAULT_GRPC_SETTINGS };
    return driverCommand(scenario.load.driver, grpcSpec);
  },
};

const WORKLOADS: Record<Protocol, WorkloadKind> = { http1: HTTP1_WORKLOAD, grpc: GRPC_WORKLOAD };

export function workloadFor(protocol: Protocol): WorkloadKind {
  return WORKLOADS[protocol];
}
