// `meshbench export --format smp`: every message of every cell checked against the field
// names, numbers and types of the published SMP protobuf (package `smp`,
// github.com/service-mesh-performance/service-mesh-performance, protos/*.proto at commit
// 6ecbce7985dddb5577509f25a1ab67959da8ca68; service_mesh_performance.proto last changed in
// 69125ea8). The schema below is a transcription of those messages; when SMP_PROTO_DIR
// points to a checkout of that repository, a test parses the .proto files themselves and
// checks the transcription against them, so the two cannot drift apart unnoticed.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { toSmp, type SmpExport } from '../../reports/smp.ts';
import { fixturePath, loadFixture, meshbench, meshbenchInProcess } from '../fixtures/results/helpers.ts';

type Scalar = 'string' | 'bool' | 'int32' | 'int64' | 'double';
type FieldType = Scalar | 'timestamp' | 'map<string,string>' | { message: string } | { enum: string };
interface Field {
  number: number;
  type: FieldType;
  repeated?: boolean;
}

const msg = (name: string) => ({ message: name });
const client = 'PerformanceTestConfig.Client';

/** The SMP messages meshbench writes, field by field, as published. */
const MESSAGES: Record<string, Record<string, Field>> = {
  PerformanceTestConfig: {
    smp_version: { number: 1, type: 'string' },
    id: { number: 2, type: 'string' },
    name: { number: 3, type: 'string' },
    labels: { number: 4, type: 'map<string,string>' },
    clients: { number: 5, type: msg(client), repeated: true },
    duration: { number: 6, type: 'string' },
  },
  [client]: {
    internal: { number: 1, type: 'bool' },
    load_generator: { number: 2, type: 'string' },
    protocol: { number: 3, type: { enum: `${client}.Protocol` } },
    connections: { number: 4, type: 'int32' },
    rps: { number: 5, type: 'int64' },
    headers: { number: 6, type: 'map<string,string>' },
    cookies: { number: 7, type: 'map<string,string>' },
    body: { number: 8, type: 'string' },
    content_type: { number: 9, type: 'string' },
    endpoint_urls: { number: 10, type: 'string', repeated: true },
    ssl_certificate: { number: 11, type: 'string' },
    additional_options: { number: 12, type: 'string' },
  },
  PerformanceTestResult: {
    smp_version: { number: 1, type: 'string' },
    id: { number: 2, type: 'string' },
    labels: { number: 3, type: 'map<string,string>' },
    start_time: { number: 4, type: 'timestamp' },
    end_time: { number: 5, type: 'timestamp' },
    latencies_ms: { number: 6, type: msg('PerformanceTestResult.Latency') },
    actual_qps: { number: 7, type: 'double' },
    details_uri: { number: 8, type: 'string' },
    test_id: { number: 9, type: 'string' },
    mesh_config_id: { number: 10, type: 'string' },
    env_id: { number: 11, type: 'string' },
  },
  'PerformanceTestResult.Latency': {
    min: { number: 1, type: 'double' },
    average: { number: 2, type: 'double' },
    p50: { number: 3, type: 'double' },
    p90: { number: 4, type: 'double' },
    p99: { number: 5, type: 'double' },
    max: { number: 6, type: 'double' },
  },
  ServiceMeshConfig: {
    smp_version: { number: 1, type: 'string' },
    id: { number: 2, type: 'string' },
    labels: { number: 3, type: 'map<string,string>' },
    ingress_gateway: { number: 4, type: msg('ServiceMeshConfig.IngressGateway') },
    sidecar: { number: 5, type: msg('ServiceMeshConfig.Sidecar') },
    mesh_telemetry: { number: 6, type: msg('ServiceMeshConfig.MeshTelemetry') },
    mesh_policy: { number: 7, type: msg('ServiceMeshConfig.MeshPolicy') },
    mesh_control_plane: { number: 8, type: msg('ServiceMeshConfig.MeshControlPlane') },
    mesh_policy_enabled: { number: 9, type: 'bool' },
    mesh_telemetry_enabled: { number: 10, type: 'bool' },
    mtls_enabled: { number: 11, type: 'bool' },
    proxy_concurrency: { number: 12, type: 'int32' },
    mesh_build: { number: 13, type: 'string' },
    proxy_build: { number: 14, type: 'string' },
    exp_group_uuid: { number: 15, type: 'string' },
    exp_uuid: { number: 16, type: 'string' },
    profile: { number: 17, type: 'string' },
    mesh_type: { number: 18, type: msg('ServiceMesh') },
    application_metadata: { number: 19, type: msg('ApplicationMetadata') },
  },
  'ServiceMeshConfig.Sidecar': {
    count: { number: 1, type: 'int32' },
    cpu_mcores: { number: 2, type: 'int32' },
    mem_mb: { number: 3, type: 'int32' },
    rps: { number: 4, type: 'int32' },
    bps: { number: 5, type: 'int32' },
  },
  EnvironmentConfig: {
    smp_version: { number: 1, type: 'string' },
    id: { number: 2, type: 'string' },
    labels: { number: 3, type: 'map<string,string>' },
    kubernetes_version: { number: 4, type: 'string' },
    nodes: { number: 5, type: msg('EnvironmentConfig.Node'), repeated: true },
    individual_workloads: { number: 6, type: msg('EnvironmentConfig.IndividualWorkload'), repeated: true },
    traffic_metadata: { number: 7, type: msg('TrafficMetadata') },
  },
  'EnvironmentConfig.Node': {
    type: { number: 1, type: 'string' },
    cores: { number: 2, type: 'int32' },
    mem_mb: { number: 3, type: 'int64' },
  },
  'EnvironmentConfig.IndividualWorkload': {
    name: { number: 1, type: 'string' },
    count: { number: 2, type: 'int32' },
    cpu_mcores: { number: 3, type: 'int32' },
    mem_mb: { number: 4, type: 'int32' },
  },
};

const ENUMS: Record<string, Record<string, number>> = {
  [`${client}.Protocol`]: { PROTOCOL_INVALID: 0, PROTOCOL_HTTP: 1, PROTOCOL_TCP: 2, PROTOCOL_UDP: 3, PROTOCOL_GRPC: 4 },
};

/** Problems of `value` as message `type` in the proto3 JSON mapping (proto field names). */
function check(value: unknown, type: string, path: string, problems: string[]): void {
  const fields = MESSAGES[type];
  if (!fields) return void problems.push(`${path}: no transcription of message ${type}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return void problems.push(`${path}: must be an object (${type})`);
  for (const [name, fieldValue] of Object.entries(value)) {
    const field = fields[name];
    if (!field) {
      problems.push(`${path}.${name}: not a field of smp.${type}`);
      continue;
    }
    const values = field.repeated ? (Array.isArray(fieldValue) ? fieldValue : (problems.push(`${path}.${name}: repeated, must be an array`), [])) : [fieldValue];
    values.forEach((v, i) => checkValue(v, field.type, field.repeated ? `${path}.${name}[${i}]` : `${path}.${name}`, problems));
  }
}

function checkValue(v: unknown, type: FieldType, path: string, problems: string[]): void {
  const bad = (why: string) => problems.push(`${path}: ${why}, got ${JSON.stringify(v)}`);
  if (typeof type === 'object' && 'message' in type) return check(v, type.message, path, problems);
  if (typeof type === 'object' && 'enum' in type) {
    if (!(Number.isInteger(v) && Object.values(ENUMS[type.enum]!).includes(v as number)) && !(typeof v === 'string' && v in ENUMS[type.enum]!)) bad(`must be a value of enum ${type.enum}`);
    return;
  }
  switch (type) {
    case 'string':
      if (typeof v !== 'string') bad('must be a string');
      break;
    case 'bool':
      if (typeof v !== 'boolean') bad('must be a bool');
      break;
    case 'double':
      if (typeof v !== 'number' || !Number.isFinite(v)) bad('must be a finite double');
      break;
    case 'int32':
      if (!Number.isInteger(v) || (v as number) < -(2 ** 31) || (v as number) >= 2 ** 31) bad('must be an int32');
      break;
    case 'int64':
      // proto3 JSON: a number or a decimal string.
      if (!(Number.isSafeInteger(v) || (typeof v === 'string' && /^-?\d+$/.test(v)))) bad('must be an int64');
      break;
    case 'timestamp':
      if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(v)) bad('must be an RFC 3339 timestamp');
      break;
    case 'map<string,string>':
      if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) bad('must map strings to strings');
      break;
  }
}

const ROOTS: Record<string, string> = {
  performance_test_config: 'PerformanceTestConfig',
  performance_test_result: 'PerformanceTestResult',
  service_mesh_config: 'ServiceMeshConfig',
  environment_config: 'EnvironmentConfig',
};

function smpProblems(doc: SmpExport): string[] {
  const problems: string[] = [];
  doc.results.forEach((r, i) => {
    for (const [key, type] of Object.entries(ROOTS)) check((r as unknown as Record<string, unknown>)[key], type, `results[${i}].${key}`, problems);
  });
  return problems;
}

describe('SMP export', () => {
  const base = loadFixture('base');
  const doc = toSmp(base);

  test('one result per cell, every message valid against the SMP protobuf', () => {
    assert.equal(doc.results.length, base.cells.length);
    assert.deepEqual(smpProblems(doc), []);
    // The checker catches what it should.
    const broken = structuredClone(doc);
    (broken.results[0]!.performance_test_result as Record<string, unknown>).actual_qps = '300';
    (broken.results[0]!.performance_test_result as Record<string, unknown>).latency_ms = {};
    (broken.results[1]!.service_mesh_config.sidecar as Record<string, unknown>).cpu_mcores = 1.5;
    assert.deepEqual(smpProblems(broken), [
      'results[0].performance_test_result.actual_qps: must be a finite double, got "300"',
      'results[0].performance_test_result.latency_ms: not a field of smp.PerformanceTestResult',
      'results[1].service_mesh_config.sidecar.cpu_mcores: must be an int32, got 1.5',
    ]);
  });

  test('figures in SMP units: latencies in ms, CPU in mCores, memory in MB, sidecars counted', () => {
    const sidecar = doc.results.find((r) => r.cell === 'sidecar-http1-s4-r1')!;
    const cell = base.cells.find((c) => c.id === 'sidecar-http1-s4-r1')!;
    const result = sidecar.performance_test_result as { latencies_ms: Record<string, number>; actual_qps: number; start_time: string };
    assert.equal(result.latencies_ms.p50, cell.load.latencyUs.p50 / 1000);
    assert.equal(result.latencies_ms.p99, cell.load.latencyUs.p99 / 1000);
    assert.equal(result.latencies_ms.average, Math.round(cell.load.latencyUs.mean) / 1000);
    assert.equal(result.actual_qps, cell.load.achievedRps);
    assert.equal(result.start_time, cell.startedAt);
    const mesh = sidecar.service_mesh_config as { sidecar: { count: number; cpu_mcores: number; mem_mb: number }; proxy_build: string };
    assert.equal(mesh.sidecar.count, 5); // 1 client sidecar + 4 server sidecars
    const probes = (cell as unknown as { components: Record<string, { cpuSeconds: number; memory: { peakBytes: number } }> }).components;
    const sidecarIds = Object.keys(probes).filter((id) => id.endsWith('-sidecar'));
    const cpuSeconds = sidecarIds.reduce((s, id) => s + probes[id]!.cpuSeconds, 0);
    assert.equal(mesh.sidecar.cpu_mcores, Math.round((cpuSeconds / 10) * 1000));
    assert.equal(mesh.sidecar.mem_mb, Math.round(sidecarIds.reduce((s, id) => s + probes[id]!.memory.peakBytes, 0) / 1e6));
    assert.equal(mesh.proxy_build, 'HAProxy 2.6.12-1+deb12u2');
    const ebpf = doc.results.find((r) => r.cell === 'ebpf-http1-s1-r1')!.service_mesh_config as { sidecar: { count: number }; labels: Record<string, string> };
    assert.equal(ebpf.sidecar.count, 0);
    assert.equal(ebpf.labels.node_proxy_count, '1');
    const config = sidecar.performance_test_config as { clients: Array<{ protocol: number; rps: number }>; duration: string };
    assert.deepEqual([config.clients[0]!.protocol, config.clients[0]!.rps, config.duration], [1, 300, '10s']);
  });

  test('the transcription matches the published .proto files (set SMP_PROTO_DIR to a checkout)', { skip: !process.env.SMP_PROTO_DIR && 'SMP_PROTO_DIR not set' }, () => {
    const dir = process.env.SMP_PROTO_DIR!;
    const files = ['protos/service_mesh_performance.proto', 'protos/metadata.proto', 'protos/service_mesh.proto'].map((f) => join(dir, f));
    assert.ok(files.every(existsSync), `expected ${files.join(', ')}`);
    const published = parseProtos(files.map((f) => readFileSync(f, 'utf8')));
    for (const [message, fields] of Object.entries(MESSAGES)) {
      assert.ok(published.messages[message], `smp.${message} is published`);
      for (const [name, field] of Object.entries(fields)) {
        const p = published.messages[message]![name];
        assert.ok(p, `smp.${message}.${name} is published`);
        const expected = typeof field.type === 'object' ? ('message' in field.type ? field.type.message : field.type.enum) : field.type === 'timestamp' ? 'google.protobuf.Timestamp' : field.type;
        assert.equal(p.number, field.number, `smp.${message}.${name} number`);
        assert.equal(p.type, expected, `smp.${message}.${name} type`);
        assert.equal(p.repeated, Boolean(field.repeated), `smp.${message}.${name} repeated`);
      }
    }
    for (const [name, values] of Object.entries(ENUMS)) assert.deepEqual(published.enums[name], values, name);
  });

  test('meshbench export --format smp prints it; a bad format is bad input', async () => {
    const r = meshbench(['export', fixturePath('base'), '--format', 'smp']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(JSON.stringify(doc)));
    const bad = await meshbenchInProcess(['export', fixturePath('base'), '--format', 'csv']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--format: unknown format "csv" \(expected one of smp\)/);
  });
});

/**
 * A small .proto reader: nested messages and enums, scalar / message / map fields, with
 * types resolved to their full names within package smp.
 */
function parseProtos(sources: string[]): {
  messages: Record<string, Record<string, { number: number; type: string; repeated: boolean }>>;
  enums: Record<string, Record<string, number>>;
} {
  const messages: Record<string, Record<string, { number: number; type: string; repeated: boolean; rawType: string; scope: string }>> = {};
  const enums: Record<string, Record<string, number>> = {};
  for (const source of sources) {
    const tokens = source.replace(/\/\/[^\n]*/g, '').match(/map\s*<[^>]+>|[A-Za-z_][\w.]*|\d+|[{};=]/g) ?? [];
    const scope: Array<{ kind: 'message' | 'enum'; name: string }> = [];
    const full = () => scope.map((s) => s.name).join('.');
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if ((t === 'message' || t === 'enum') && tokens[i + 2] === '{') {
        scope.push({ kind: t, name: tokens[i + 1]! });
        if (t === 'message') messages[full()] ??= {};
        else enums[full()] = {};
        i += 2;
      } else if (t === '}') {
        scope.pop();
      } else if (scope.at(-1)?.kind === 'enum' && tokens[i + 1] === '=' && tokens[i + 3] === ';') {
        enums[full()]![t] = Number(tokens[i + 2]);
        i += 3;
      } else if (scope.at(-1)?.kind === 'message') {
        const repeated = t === 'repeated';
        const at = repeated ? i + 1 : i;
        if (tokens[at + 2] === '=' && tokens[at + 4] === ';') {
          const rawType = tokens[at]!.replace(/\s+/g, '');
          messages[full()]![tokens[at + 1]!] = { number: Number(tokens[at + 3]), type: rawType, repeated, rawType, scope: full() };
          i = at + 4;
        }
      }
    }
  }
  // Resolve message/enum names the way protoc does: innermost scope outwards.
  const known = new Set([...Object.keys(messages), ...Object.keys(enums)]);
  const resolved: Record<string, Record<string, { number: number; type: string; repeated: boolean }>> = {};
  for (const [message, fields] of Object.entries(messages)) {
    resolved[message] = {};
    for (const [name, f] of Object.entries(fields)) {
      let type = f.rawType;
      if (type.startsWith('map<')) type = type.replace(/,/, ',');
      else if (!['string', 'bool', 'int32', 'int64', 'double', 'float', 'bytes', 'uint32', 'uint64'].includes(type) && !type.startsWith('google.')) {
        const parts = f.scope.split('.');
        for (let n = parts.length; n >= 0; n--) {
          const candidate = [...parts.slice(0, n), type].join('.');
          if (known.has(candidate)) {
            type = candidate;
            break;
          }
        }
      }
      resolved[message]![name] = { number: f.number, type, repeated: f.repeated };
    }
  }
  return { messages: resolved, enums };
}
