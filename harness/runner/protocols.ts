// One object per protocol, chosen once per cell: which server app runs in the server pods,
// which load driver in the client pod, and what the mesh proxies must speak. The runner
// asks it and never branches on the protocol itself; a new protocol is one entry here.
import { fileURLToPath } from 'node:url';
import { driverCommand } from '../load/index.ts';
import type { LoadSpec } from '../load/types.ts';
import type { GrpcLoadSpec } from '../load/grpcSpec.ts';
import type { ProxyProtocol } from '../proxy/types.ts';
import { tsNodeArgv } from '../tsx.ts';
import type { GrpcSettings, Protocol, Scenario } from '../scenario/types.ts';
import { workloadServerArgv, workloadServerInfo, workloadServerOf, type WorkloadServerInfo } from '../workload/servers.ts';

const entry = (relative: string): string => fileURLToPath(new URL(relative, import.meta.url));

const nodeArgv = tsNodeArgv;

export interface WorkloadKind {
  readonly protocol: Protocol;
  /** What every proxy on the path speaks, client side and upstream. */
  readonly proxyProtocol: ProxyProtocol;
  /**
   * The server app of a server pod: listens on 0.0.0.0:port, prints a `"ready"` line. With
   * `hop.upstream` it is a hop of a chain: it calls that service (through the mesh) for every
   * request before answering, and leaves the scenario's delay to the chain's last service.
   */
  serverArgv(scenario: Scenario, port: number, hop?: ServerHop): string[];
  /** Which program serverArgv starts, and its version (recorded in the cell's result). */
  server(scenario: Scenario): WorkloadServerInfo;
  /**
   * The load driver of the client pod for `spec`: prints `{"phase":"measure"}` when the
   * measured window opens, then one LoadOutcome line (or `{"error":…}`).
   */
  driverArgv(spec: LoadSpec, scenario: Scenario): string[];
}

/** A server app's place in a chain: the next service it calls (absent: it answers itself). */
export interface ServerHop {
  upstream?: { host: string; port: number };
}

function serverArgs(scenario: Scenario, port: number, hop?: ServerHop): string[] {
  return [
    '--host', '0.0.0.0',
    '--port', String(port),
    '--response-bytes', String(scenario.workload.responseBytes),
    '--delay-us', String(hop?.upstream ? 0 : scenario.workload.delayUs),
    ...(hop?.upstream ? ['--upstream', `${hop.upstream.host}:${hop.upstream.port}`] : []),
  ];
}

/** Only the native server has the upstream mode (validate refuses chains otherwise). */
function chainable(scenario: Scenario, protocol: Protocol, hop?: ServerHop): void {
  if (!hop?.upstream) return;
  if (protocol !== 'http1' || workloadServerOf(scenario.workload) !== 'native') {
    throw new Error(`a chain hop needs the native server over HTTP/1.1, got ${workloadServerOf(scenario.workload)} over ${protocol}`);
  }
}


/** What a gRPC cell calls when the scenario names no gRPC settings. */
export const DEFAULT_GRPC_SETTINGS: GrpcSettings = { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1 };

export const HTTP1_WORKLOAD: WorkloadKind = {
  protocol: 'http1',
  proxyProtocol: 'http1',
  // workload.server: the native server (default) or httpServer.ts, bundled (servers.ts).
  serverArgv: (scenario, port, hop) => {
    chainable(scenario, 'http1', hop);
    return workloadServerArgv(workloadServerOf(scenario.workload), 'http1', serverArgs(scenario, port, hop));
  },
  server: (scenario) => workloadServerInfo(workloadServerOf(scenario.workload), 'http1'),
  // Exactly the driver the scenario names (load.driver), nothing else.
  driverArgv: (spec, scenario) => driverCommand(scenario.load.driver, spec),
};

/** gRPC over h2c end to end: the native (or grpc-js) server, the meshbench gRPC driver, proxies in HTTP/2. */
export const GRPC_WORKLOAD: WorkloadKind = {
  protocol: 'grpc',
  proxyProtocol: 'h2',
  // workload.server: the native server (default; h2c through libnghttp2) or grpcServer.ts
  // (grpc-js), bundled (servers.ts).
  serverArgv: (scenario, port, hop) => {
    chainable(scenario, 'grpc', hop);
    return workloadServerArgv(workloadServerOf(scenario.workload), 'grpc', serverArgs(scenario, port, hop));
  },
  server: (scenario) => workloadServerInfo(workloadServerOf(scenario.workload), 'grpc'),
  driverArgv: (spec, scenario) => {
    const grpcSpec: GrpcLoadSpec = { ...spec, grpc: scenario.grpc ?? DEFAULT_GRPC_SETTINGS };
    return driverCommand(scenario.load.driver, grpcSpec);
  },
};

const WORKLOADS: Record<Protocol, WorkloadKind> = { http1: HTTP1_WORKLOAD, grpc: GRPC_WORKLOAD };

export function workloadFor(protocol: Protocol): WorkloadKind {
  return WORKLOADS[protocol];
}
