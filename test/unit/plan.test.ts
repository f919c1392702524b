// The cell planner: counts, interleaving, rotation, ids, and the duration estimate.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadScenarioFile } from '../../harness/scenario/load.ts';
import {
  CELL_SETUP_BASE_MS,
  CELL_SETUP_PER_SERVICE_MS,
  estimateDurationMs,
  meshOrderForRepeat,
  planCells,
} from '../../harness/scenario/plan.ts';
import type { MeshName, Scenario } from '../../harness/scenario/types.ts';

/** The four meshes these counts and orders were written for (the list has grown since). */
const MESH_NAMES: readonly MeshName[] = ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'];

function scenario(overrides: Partial<Scenario> = {}): Scenario {
  return {
    name: 'test',
    platform: 'local',
    meshes: [...MESH_NAMES],
    protocols: ['http1'],
    probes: ['dwell', 'runq', 'cpu', 'connect', 'memory'],
    services: [1],
    workload: { responseBytes: 1024, delayUs: 0 },
    load: { model: 'open', rate: 300, connections: 4, durationMs: 10_000, warmupMs: 2_000, driver: 'autocannon' },
    repeats: 3,
    ...overrides,
  };
}

describe('planCells', () => {
  test('meshes × protocols × services × repeats cells, each id once, index = position', () => {
    const cells = planCells(scenario({ services: [1, 10, 30], repeats: 3 }));
    assert.equal(cells.length, 4 * 1 * 3 * 3);
    assert.equal(new Set(cells.map((cell) => cell.id)).size, cells.length);
    cells.forEach((cell, index) => assert.equal(cell.index, index));
    for (const mesh of MESH_NAMES) {
      for (const services of [1, 10, 30]) {
        for (const repeat of [1, 2, 3]) {
          assert.equal(cells.filter((c) => c.mesh === mesh && c.services === services && c.repeat === repeat).length, 1);
        }
      }
    }
  });

  test('ids like sidecar-http1-s10-r2', () => {
    const cells = planCells(scenario({ services: [10], repeats: 2 }));
    const cell = cells.find((c) => c.mesh === 'sidecar' && c.repeat === 2);
    assert.deepEqual(cell, { id: 'sidecar-http1-s10-r2', mesh: 'sidecar', protocol: 'http1', security: 'plaintext', services: 10, repeat: 2, index: 4 });
  });

  test('mesh order rotates from repeat to repeat; services groups run mesh after mesh', () => {
    const ids = planCells(scenario({ services: [1, 10], repeats: 5 })).map((cell) => cell.id);
    assert.deepEqual(ids, [
      'baseline-http1-s1-r1', 'sidecar-http1-s1-r1', 'ebpf-http1-s1-r1', 'ebpf-l4-http1-s1-r1',
      'baseline-http1-s10-r1', 'sidecar-http1-s10-r1', 'ebpf-http1-s10-r1', 'ebpf-l4-http1-s10-r1',
      'sidecar-http1-s1-r2', 'ebpf-http1-s1-r2', 'ebpf-l4-http1-s1-r2', 'baseline-http1-s1-r2',
      'sidecar-http1-s10-r2', 'ebpf-http1-s10-r2', 'ebpf-l4-http1-s10-r2', 'baseline-http1-s10-r2',
      'ebpf-http1-s1-r3', 'ebpf-l4-http1-s1-r3', 'baseline-http1-s1-r3', 'sidecar-http1-s1-r3',
      'ebpf-http1-s10-r3', 'ebpf-l4-http1-s10-r3', 'baseline-http1-s10-r3', 'sidecar-http1-s10-r3',
      'ebpf-l4-http1-s1-r4', 'baseline-http1-s1-r4', 'sidecar-http1-s1-r4', 'ebpf-http1-s1-r4',
      'ebpf-l4-http1-s10-r4', 'baseline-http1-s10-r4', 'sidecar-http1-s10-r4', 'ebpf-http1-s10-r4',
      'baseline-http1-s1-r5', 'sidecar-http1-s1-r5', 'ebpf-http1-s1-r5', 'ebpf-l4-http1-s1-r5',
      'baseline-http1-s10-r5', 'sidecar-http1-s10-r5', 'ebpf-http1-s10-r5', 'ebpf-l4-http1-s10-r5',
    ]);
  });

  test('over as many repeats as meshes, every mesh takes every position once', () => {
    const cells = planCells(scenario({ repeats: 4 }));
    for (const mesh of MESH_NAMES) {
      const positions = cells.filter((cell) => cell.mesh === mesh).map((cell) => cell.index % 4);
      assert.deepEqual([...positions].sort(), [0, 1, 2, 3], mesh);
    }
  });

  test("rotation follows the scenario's own list of meshes", () => {
    assert.deepEqual(meshOrderForRepeat(['sidecar', 'baseline'], 1), ['sidecar', 'baseline']);
    assert.deepEqual(meshOrderForRepeat(['sidecar', 'baseline'], 2), ['baseline', 'sidecar']);
    assert.deepEqual(meshOrderForRepeat(['sidecar', 'baseline'], 3), ['sidecar', 'baseline']);
    assert.deepEqual(
      planCells(scenario({ meshes: ['ebpf'], repeats: 2 })).map((cell) => cell.id),
      ['ebpf-http1-s1-r1', 'ebpf-http1-s1-r2'],
    );
  });
});

describe('estimateDurationMs', () => {
  test('cells × (set-up allowance + warm-up + duration)', () => {
    const s = scenario({ services: [1, 10], repeats: 2 });
    const perCell = (services: number) => CELL_SETUP_BASE_MS + CELL_SETUP_PER_SERVICE_MS * services + 2_000 + 10_000;
    assert.equal(estimateDurationMs(s), 4 * 2 * (perCell(1) + perCell(10)));
  });

  test('quick.yaml (npm run bench) fits in 5 minutes', async () => {
    const quick = await loadScenarioFile('scenarios/quick.yaml');
    assert.equal(planCells(quick).length, 8);
    assert.ok(estimateDurationMs(quick) <= 5 * 60_000, `${estimateDurationMs(quick)} ms`);
  });
});
