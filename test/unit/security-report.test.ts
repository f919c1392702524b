// The security mode as a dimension of the results: overhead per mesh × mode against the same
// baseline, summary rows per mode, the "what mTLS costs each mesh" table, not-run cells with
// their reason (never figures), and the Kubernetes objects of sidecar with mtls.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyseRun } from '../../harness/analysis/analyse.ts';
import { computeOverhead } from '../../harness/analysis/overhead.ts';
import { createKubeMesh } from '../../harness/mesh/index.ts';
import { notRunCell } from '../../harness/mesh/needs.ts';
import { WaypointGateway } from '../../harness/mesh/waypoint.ts';
import { cellGroups } from '../../reports/model.ts';
import { securityTables } from '../../harness/results/securityTables.ts';
import { renderSummaryMarkdown } from '../../harness/results/summary.ts';
import { RESULT_SCHEMA, type CellResult, type RunResult } from '../../harness/results/types.ts';
import { planCells } from '../../harness/scenario/plan.ts';
import type { Cell, Scenario } from '../../harness/scenario/types.ts';

const scenario: Scenario = {
  name: 'security-test',
  platform: 'local',
  meshes: ['baseline', 'sidecar', 'ebpf'],
  protocols: ['http1'],
  security: ['plaintext', 'mtls'],
  services: [1],
  workload: { responseBytes: 1024, delayUs: 0 },
  load: { model: 'open', rate: 300, connections: 4, durationMs: 8000, warmupMs: 2000, driver: 'native' },
  repeats: 1,
  probes: [],
};

const P50: Record<string, number> = { 'baseline-plaintext': 100, 'sidecar-plaintext': 300, 'sidecar-mtls': 420, 'ebpf-plaintext': 200 };

function cellResult(cell: Cell): CellResult {
  const p50 = P50[`${cell.mesh}-${cell.security}`];
  if (p50 === undefined) return notRunCell(cell, 'not run: the kernel lacks WireGuard and ESP', scenario);
  return {
    ...cell,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:10.000Z',
    load: {
      driver: 'native', model: 'open', requestedRps: 300, achievedRps: 300, requests: 2400, non2xx: 0, socketErrors: 0, connections: 4,
      measuredMs: 8000, saturated: false,
      latencyUs: { min: p50 / 2, p50, p90: p50 * 1.5, p99: p50 * 2, p999: p50 * 3, max: p50 * 4, mean: p50, count: 2400 },
    },
    path: cell.security === 'mtls' ? { 'server-1/sidecar:inbound-tls-handshakes': 1, 'server-1/sidecar:inbound-tls-resumed': 0 } : {},
    notes: [],
  };
}

const cells = planCells(scenario).map(cellResult);
const result: RunResult = {
  schema: RESULT_SCHEMA, meshbench: '0.1.0', runId: 'sec01', startedAt: '2026-01-01T00:00:00.000Z', status: 'complete',
  environment: { hostname: 'h', kernel: '6.1', cpuModel: 'cpu', cores: 2, node: 'v20', proxy: { name: 'haproxy', version: '2.6' }, tools: {}, placement: { driverCpus: '0', podCpus: '1' } },
  scenario, cells, analysis: analyseRun(cells), notes: [],
};

describe('security mode in the results', () => {
  test('overhead per mesh × mode, both against the plaintext baseline; not-run cells give no figure', () => {
    const overhead = computeOverhead(cells);
    const sidecarPlain = overhead.find((o) => o.mesh === 'sidecar' && o.security === undefined);
    const sidecarMtls = overhead.find((o) => o.mesh === 'sidecar' && o.security === 'mtls');
    assert.equal(sidecarPlain?.p50DeltaUs, 200);
    assert.equal(sidecarMtls?.p50DeltaUs, 320);
    assert.equal(result.analysis.overhead.some((o) => o.mesh === 'ebpf' && o.security === 'mtls'), false, 'the not-run cell is no figure');
    assert.ok(result.analysis.comparisons?.some((c) => c.mesh === 'sidecar' && c.security === 'mtls'));
  });

  test('the mTLS cost table: per mesh plaintext, mtls, the difference, TLS sessions; the reason where not run', () => {
    const [table] = securityTables(result);
    assert.ok(table);
    assert.match(table.heading, /what mTLS costs each mesh/);
    const sidecar = table.rows.find((r) => r[0] === 'sidecar')!;
    assert.deepEqual(sidecar.slice(1, 4), ['300 µs', '420 µs', '+120 µs (+40 %)']);
    assert.match(sidecar[7]!, /^1 full \+ 0 resumed, 0\.42 per 1000 requests$/);
    const ebpf = table.rows.find((r) => r[0] === 'ebpf')!;
    assert.equal(ebpf[2], 'not run: the kernel lacks WireGuard and ESP');
  });

  test('summary.md: a row per mesh × mode, the not-run cell with its reason', () => {
    const md = renderSummaryMarkdown(result);
    assert.match(md, /\| sidecar · mtls \| 420 µs/);
    assert.match(md, /\| sidecar · plaintext \| 300 µs/);
    assert.match(md, /\| ebpf · mtls \| not run: the kernel lacks WireGuard and ESP/);
    assert.match(md, /\| baseline \| 100 µs/);
    assert.match(md, /what mTLS costs each mesh/);
  });

  test('report.html groups: one per security mode, each with the baseline as its reference, not-run cells left out', () => {
    const groups = cellGroups(result);
    assert.deepEqual(groups.map((g) => g.label), ['http1 · 1 service · plaintext', 'http1 · 1 service · mtls']);
    const mtls = groups[1]!;
    assert.deepEqual(mtls.cells.map((c) => `${c.mesh}/${c.security}`), ['baseline/plaintext', 'sidecar/mtls']);
  });

  test('Kubernetes: sidecar with mtls is STRICT + ISTIO_MUTUAL, plaintext DISABLE; a waypoint Gateway validates', () => {
    const ctx = { namespace: 'mb-x', labels: { a: 'b' }, serverSelector: {}, clientSelector: {}, appPort: 8080, services: 2 };
    const mtls = createKubeMesh('sidecar', 'mtls').objects(ctx).map((o) => o.toJSON() as { kind: string; spec: Record<string, unknown> });
    assert.deepEqual(mtls.find((o) => o.kind === 'PeerAuthentication')?.spec, { mtls: { mode: 'STRICT' } });
    assert.match(JSON.stringify(mtls.find((o) => o.kind === 'DestinationRule')), /ISTIO_MUTUAL/);
    const plain = createKubeMesh('sidecar').objects(ctx).map((o) => o.toJSON() as { kind: string; spec: Record<string, unknown> });
    assert.deepEqual(plain.find((o) => o.kind === 'PeerAuthentication')?.spec, { mtls: { mode: 'DISABLE' } });
    const waypoints = createKubeMesh('waypoint', 'mtls').objects(ctx).filter((o) => o.kind === 'Gateway');
    assert.equal(waypoints.length, 2);
    for (const gateway of waypoints) gateway.validate();
    const bad = new WaypointGateway({ name: 'Bad_Name', namespace: 'mb-x', labels: {} }, { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] });
    assert.throws(() => bad.validate(), /Gateway Bad_Name: metadata\.name/);
    assert.deepEqual(createKubeMesh('ambient').namespaceLabels()['istio.io/dataplane-mode'], 'ambient');
  });
});
