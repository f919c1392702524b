// A run as Service Mesh Performance (SMP) results — the CNCF spec Meshery reads — one per
// cell: the messages PerformanceTestConfig, PerformanceTestResult, ServiceMeshConfig and
// EnvironmentConfig of package `smp` (github.com/service-mesh-performance/
// service-mesh-performance, protos/service_mesh_performance.proto).
//
// Encoding: the proto3 JSON mapping with the .proto field names (snake_case, which
// protojson accepts and which Meshery's generated Go structs use as JSON tags); int64 and
// enums as JSON numbers (protojson accepts both; Go's encoding/json needs numbers),
// Timestamps as RFC 3339 strings. Fields meshbench does not know are left out (proto3
// defaults), never invented.
import { cellUsage, type ComponentUsage } from '../harness/analysis/efficiency.ts';
import type { CellResult, RunResult } from '../harness/results/types.ts';

export const SMP_VERSION = 'v0.0.1';
export const SMP_PROTO_SOURCE = 'github.com/service-mesh-performance/service-mesh-performance protos/service_mesh_performance.proto (package smp)';

/** PerformanceTestConfig.Client.Protocol */
const CLIENT_PROTOCOL: Record<string, number> = { http1: 1, grpc: 4 };

export interface SmpCellExport {
  /** The meshbench cell this is, e.g. `sidecar-http1-s1-r2`. */
  cell: string;
  performance_test_config: Record<string, unknown>;
  performance_test_result: Record<string, unknown>;
  service_mesh_config: Record<string, unknown>;
  environment_config: Record<string, unknown>;
}

export interface SmpExport {
  format: 'smp';
  smp_version: string;
  proto: string;
  run_id: string;
  results: SmpCellExport[];
}

const ms = (us: number) => Math.round(us) / 1000;
const int32 = (value: number) => Math.max(-2147483648, Math.min(2147483647, Math.round(value)));

function durationText(durationMs: number): string {
  return durationMs % 1000 === 0 ? `${durationMs / 1000}s` : `${durationMs}ms`;
}

function sum(values: Array<number | undefined>): number | undefined {
  const present = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return present.length === 0 ? undefined : present.reduce((a, b) => a + b, 0);
}

/** count, cpu_mcores, mem_mb of some components, with only the figures that exist. */
function aggregate(components: ComponentUsage[]): Record<string, number> {
  const out: Record<string, number> = { count: components.length };
  const cpu = sum(components.map((c) => c.cpuMillicores));
  if (cpu !== undefined) out.cpu_mcores = int32(cpu);
  const mem = sum(components.map((c) => c.memoryPeakBytes));
  if (mem !== undefined) out.mem_mb = int32(mem / 1e6);
  return out;
}

function cellExport(result: RunResult, cell: CellResult): SmpCellExport {
  const env = result.environment;
  const scenario = result.scenario;
  const usage = cellUsage(cell);
  const sidecars = usage.components.filter((c) => c.role.endsWith('-sidecar'));
  const nodeProxies = usage.components.filter((c) => c.role === 'node-proxy');
  const workloads = usage.components.filter((c) => !c.role.endsWith('-sidecar') && c.role !== 'node-proxy');
  const id = `${result.runId}-${cell.id}`;
  const labels = {
    meshbench_run: result.runId,
    meshbench_cell: cell.id,
    meshbench_data_path: cell.mesh,
    protocol: cell.protocol,
    services: String(cell.services),
    repeat: String(cell.repeat),
    scenario: scenario.name,
  };
  const configId = `${result.runId}-${scenario.name}-${cell.protocol}-s${cell.services}`;
  const meshConfigId = `${result.runId}-${cell.mesh}-s${cell.services}`;
  const envId = `${result.runId}-env`;
  const threads = (env.proxy as { threads?: unknown }).threads;

  const client: Record<string, unknown> = {
    internal: true,
    load_generator: cell.load.driver,
    connections: int32(cell.load.connections),
  };
  if (CLIENT_PROTOCOL[cell.protocol] !== undefined) client.protocol = CLIENT_PROTOCOL[cell.protocol];
  if (cell.load.requestedRps !== undefined) client.rps = Math.round(cell.load.requestedRps);

  const serviceMeshConfig: Record<string, unknown> = {
    smp_version: SMP_VERSION,
    id: meshConfigId,
    labels: {
      ...labels,
      ...(nodeProxies.length > 0 ? Object.fromEntries(Object.entries(aggregate(nodeProxies)).map(([k, v]) => [`node_proxy_${k}`, String(v)])) : {}),
    },
    mesh_policy_enabled: false,
    mesh_telemetry_enabled: false,
    mtls_enabled: false,
    mesh_build: `meshbench ${result.meshbench} ${cell.mesh} data path (${env.proxy.name})`,
    proxy_build: `${env.proxy.name} ${env.proxy.version}`,
  };
  if (usage.components.length > 0) {
    serviceMeshConfig.sidecar = { ...aggregate(sidecars), ...(sidecars.length > 0 ? { rps: int32(cell.load.achievedRps) } : {}) };
  }
  if (typeof threads === 'number') serviceMeshConfig.proxy_concurrency = int32(threads);

  const environmentConfig: Record<string, unknown> = {
    smp_version: SMP_VERSION,
    id: envId,
    labels: { platform: scenario.platform, kernel: env.kernel, hostname: env.hostname, placement: `driver ${env.placement.driverCpus || 'any'}, pods ${env.placement.podCpus || 'any'}` },
    nodes: [{ type: env.cpuModel, cores: int32(env.cores) }],
  };
  if (workloads.length > 0) {
    const byRole = new Map<string, ComponentUsage[]>();
    for (const w of workloads) byRole.set(w.role, [...(byRole.get(w.role) ?? []), w]);
    environmentConfig.individual_workloads = [...byRole].map(([role, list]) => ({ name: role, ...aggregate(list) }));
  }

  return {
    cell: cell.id,
    performance_test_config: {
      smp_version: SMP_VERSION,
      id: configId,
      name: `meshbench ${scenario.name}: ${cell.protocol}, ${cell.services} ${cell.services === 1 ? 'service' : 'services'}`,
      labels,
      clients: [client],
      duration: durationText(cell.load.measuredMs),
    },
    performance_test_result: {
      smp_version: SMP_VERSION,
      id,
      labels,
      start_time: cell.startedAt,
      end_time: cell.finishedAt,
      latencies_ms: {
        min: ms(cell.load.latencyUs.min),
        average: ms(cell.load.latencyUs.mean),
        p50: ms(cell.load.latencyUs.p50),
        p90: ms(cell.load.latencyUs.p90),
        p99: ms(cell.load.latencyUs.p99),
        max: ms(cell.load.latencyUs.max),
      },
      actual_qps: cell.load.achievedRps,
      details_uri: `report.html#group-${cell.protocol}-s${cell.services}`,
      test_id: configId,
      mesh_config_id: meshConfigId,
      env_id: envId,
    },
    service_mesh_config: serviceMeshConfig,
    environment_config: environmentConfig,
  };
}

export function toSmp(result: RunResult): SmpExport {
  return {
    format: 'smp',
    smp_version: SMP_VERSION,
    proto: SMP_PROTO_SOURCE,
    run_id: result.runId,
    results: [...result.cells].sort((a, b) => a.index - b.index).map((cell) => cellExport(result, cell)),
  };
}
