// Overhead vs baseline on hand-made cells: pairing by repeat, medians, percentages.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { computeOverhead } from '../../harness/analysis/overhead.ts';
import type { CellResult } from '../../harness/results/types.ts';
import type { MeshName } from '../../harness/scenario/types.ts';

function cell(mesh: MeshName, repeat: number, figures: { p50: number; p99: number; rps: number; services?: number }): CellResult {
  const services = figures.services ?? 1;
  return {
    id: `${mesh}-http1-s${services}-r${repeat}`,
    mesh,
    protocol: 'http1',
    services,
    repeat,
    index: 0,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:12.000Z',
    load: {
      driver: 'autocannon',
      model: 'open',
      requestedRps: 300,
      achievedRps: figures.rps,
      requests: figures.rps * 10,
      non2xx: 0,
      socketErrors: 0,
      connections: 4,
      measuredMs: 10_000,
      saturated: false,
      latencyUs: { p50: figures.p50, p90: figures.p50, p99: figures.p99, p999: figures.p99, max: figures.p99, min: 1, mean: figures.p50, count: 3000 },
    },
    path: {},
    notes: [],
  };
}

describe('computeOverhead', () => {
  test('pairs each repeat with the same repeat’s baseline, then takes the median', () => {
    // The baseline drifts up over the repeats; the sidecar's paired p50 differences are
    // 100, 100 and an outlier of 400 µs in repeat 3, which the median must ignore.
    const cells = [
      cell('baseline', 1, { p50: 200, p99: 1000, rps: 300 }),
      cell('baseline', 2, { p50: 250, p99: 1100, rps: 300 }),
      cell('baseline', 3, { p50: 400, p99: 2000, rps: 300 }),
      cell('sidecar', 1, { p50: 300, p99: 1500, rps: 297 }),
      cell('sidecar', 2, { p50: 350, p99: 1650, rps: 294 }),
      cell('sidecar', 3, { p50: 800, p99: 2400, rps: 300 }),
    ];
    assert.deepEqual(computeOverhead(cells), [
      {
        mesh: 'sidecar',
        protocol: 'http1',
        services: 1,
        p50DeltaUs: 100, // differences 100, 100, 400
        p50DeltaPct: 50, // 50 %, 40 %, 100 %
        p99DeltaUs: 500, // 500, 550, 400
        p99DeltaPct: 50, // 50 %, 50 %, 20 %
        rpsDeltaPct: -1, // -1 %, -2 %, 0 %
      },
    ]);
  });

  test('one result per non-baseline mesh × services, in canonical order; even counts average the middle two', () => {
    const cells = [
      cell('ebpf-l4', 1, { p50: 190, p99: 900, rps: 300, services: 10 }),
      cell('baseline', 1, { p50: 200, p99: 1000, rps: 300, services: 10 }),
      cell('ebpf', 1, { p50: 260, p99: 1200, rps: 300, services: 10 }),
      cell('baseline', 1, { p50: 100, p99: 500, rps: 200 }),
      cell('baseline', 2, { p50: 100, p99: 500, rps: 200 }),
      cell('ebpf', 1, { p50: 110, p99: 550, rps: 200 }),
      cell('ebpf', 2, { p50: 130, p99: 600, rps: 190 }),
    ];
    const overhead = computeOverhead(cells);
    assert.deepEqual(
      overhead.map((o) => [o.mesh, o.services, o.p50DeltaUs, o.p50DeltaPct, o.p99DeltaUs, o.rpsDeltaPct]),
      [
        ['ebpf', 1, 20, 20, 75, -2.5],
        ['ebpf', 10, 60, 30, 200, 0],
        ['ebpf-l4', 10, -10, -5, -100, 0],
      ],
    );
  });

  test('repeats without a baseline cell are left out of the pairing', () => {
    const cells = [
      cell('baseline', 1, { p50: 100, p99: 500, rps: 300 }),
      cell('sidecar', 1, { p50: 150, p99: 600, rps: 300 }),
      cell('sidecar', 2, { p50: 999, p99: 9999, rps: 10 }), // its baseline failed
    ];
    const [sidecar] = computeOverhead(cells);
    assert.equal(sidecar?.p50DeltaUs, 50);
    assert.equal(sidecar?.rpsDeltaPct, 0);
  });

  test('nothing without baseline cells; nothing for baseline itself; pure', () => {
    assert.deepEqual(computeOverhead([cell('sidecar', 1, { p50: 1, p99: 2, rps: 3 })]), []);
    assert.deepEqual(computeOverhead([cell('baseline', 1, { p50: 1, p99: 2, rps: 3 })]), []);
    assert.deepEqual(computeOverhead([]), []);
    const cells = [cell('baseline', 1, { p50: 100, p99: 500, rps: 300 }), cell('sidecar', 1, { p50: 150, p99: 600, rps: 300 })];
    const before = JSON.stringify(cells);
    assert.deepEqual(computeOverhead(cells), computeOverhead(cells));
    assert.equal(JSON.stringify(cells), before);
  });

  test('a zero baseline figure gives no percentage (NaN) but a difference in µs', () => {
    const [sidecar] = computeOverhead([cell('baseline', 1, { p50: 0, p99: 500, rps: 300 }), cell('sidecar', 1, { p50: 150, p99: 600, rps: 300 })]);
    assert.equal(sidecar?.p50DeltaUs, 150);
    assert.ok(Number.isNaN(sidecar?.p50DeltaPct));
    assert.equal(sidecar?.p99DeltaPct, 20);
  });
});
