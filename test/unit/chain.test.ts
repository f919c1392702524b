// Service chains without a host: the topology (which service calls which), the scenario key
// and the plan (cells, ids, bounds with field paths), the server app's argv per hop, and the
// cost-per-hop fits and tables on synthetic cells with a known cost per hop.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chainFits, slopeDifference } from '../../harness/analysis/chain.ts';
import { linearFit } from '../../harness/analysis/scaling.ts';
import { mulberry32, standardNormal } from '../../harness/analysis/stats.ts';
import { chainTables } from '../../harness/results/chainTables.ts';
import type { CellResult, RunResult } from '../../harness/results/types.ts';
import { chainHops } from '../../harness/runner/chain.ts';
import { nodeOfHop } from '../../harness/runner/cell.ts';
import { HTTP1_WORKLOAD } from '../../harness/runner/protocols.ts';
import { estimateDurationMs, planCells } from '../../harness/scenario/plan.ts';
import { validateScenario } from '../../harness/scenario/schema.ts';
import type { Scenario } from '../../harness/scenario/types.ts';

const base = { name: 'chain', meshes: ['baseline', 'sidecar'], services: [1], load: { rate: 100, duration: '2s' }, repeats: 2 };

function scenarioOf(extra: Record<string, unknown>): Scenario {
  const r = validateScenario({ ...base, ...extra });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  return r.scenario;
}

describe('chain topology', () => {
  test('one chain: 1 → 2 → 3, the last answers itself', () => {
    assert.deepEqual(chainHops(1, 3), [
      { service: 1, hop: 1, upstream: 2 },
      { service: 2, hop: 2, upstream: 3 },
      { service: 3, hop: 3 },
    ]);
  });

  test('two entry services, chains of 2: 1 → 3 and 2 → 4', () => {
    assert.deepEqual(chainHops(2, 2), [
      { service: 1, hop: 1, upstream: 3 },
      { service: 2, hop: 1, upstream: 4 },
      { service: 3, hop: 2 },
      { service: 4, hop: 2 },
    ]);
  });

  test('a chain of 1 is the plain cell', () => {
    assert.deepEqual(chainHops(3, 1), [{ service: 1, hop: 1 }, { service: 2, hop: 1 }, { service: 3, hop: 1 }]);
    assert.throws(() => chainHops(1, 0), /chain must be a positive integer/);
  });

  test("a hop's server app calls the next VIP and leaves the delay to the last", () => {
    const scenario = scenarioOf({ chain: [3], workload: { delay: '2ms' } });
    const middle = HTTP1_WORKLOAD.serverArgv(scenario, 8080, { upstream: { host: '198.19.0.2', port: 80 } });
    assert.ok(middle.join(' ').includes('--delay-us 0 --upstream 198.19.0.2:80'), middle.join(' '));
    const last = HTTP1_WORKLOAD.serverArgv(scenario, 8080, {});
    assert.ok(last.join(' ').includes('--delay-us 2000') && !last.includes('--upstream'), last.join(' '));
  });
});

describe('scenario key chain and the plan', () => {
  test('cells multiply like services, ids carry -c<d>, chain 1 ids unchanged', () => {
    const cells = planCells(scenarioOf({ chain: [1, 3] }));
    assert.deepEqual(cells.map((c) => c.id), [
      'baseline-http1-s1-r1', 'sidecar-http1-s1-r1', 'baseline-http1-s1-c3-r1', 'sidecar-http1-s1-c3-r1',
      'sidecar-http1-s1-r2', 'baseline-http1-s1-r2', 'sidecar-http1-s1-c3-r2', 'baseline-http1-s1-c3-r2',
    ]);
    assert.deepEqual(cells.map((c) => c.chain), [1, 1, 3, 3, 1, 1, 3, 3]);
    assert.deepEqual(cells.map((c) => c.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('absent or [1]: no chain on the scenario or its cells', () => {
    for (const extra of [{}, { chain: [1] }]) {
      const scenario = scenarioOf(extra);
      assert.equal(scenario.chain, undefined);
      assert.ok(planCells(scenario).every((c) => c.chain === undefined && !c.id.includes('-c')));
    }
  });

  test('a longer chain is a longer set-up in the estimate', () => {
    assert.ok(estimateDurationMs(scenarioOf({ chain: [5] })) > estimateDurationMs(scenarioOf({})));
  });

  test('every problem with its field path', () => {
    const problems = (extra: Record<string, unknown>) => {
      const r = validateScenario({ ...base, ...extra });
      assert.ok(!r.ok);
      return r.problems.map((p) => `${p.path}: ${p.message}`);
    };
    assert.deepEqual(problems({ chain: [0, 11, 'x', 2, 2] }), [
      'chain[0]: must be an integer 1–10, got 0',
      'chain[1]: must be an integer 1–10, got 11',
      'chain[2]: must be an integer 1–10, got "x"',
      'chain[4]: 2 is listed twice (also at index 3)',
    ]);
    assert.match(problems({ chain: [3], protocols: ['http1', 'grpc'] }).join('\n'), /^chain\[0\]: chains carry HTTP\/1\.1 only/);
    assert.match(problems({ chain: [1, 3], workload: { server: 'node' } }).join('\n'), /^chain\[1\]: chains need the native server/);
    assert.match(problems({ chain: [3], services: [100], load: { rate: 100, duration: '2s', connections: 100 } }).join('\n'), /^chain\[0\]: services × chain must be at most 200 server pods, got 100 × 3/);
    assert.match(problems({ chain: 3 }).join('\n'), /^chain: must be a list of chain lengths/);
  });
});

/** A synthetic cell: p50 and node CPU grow by a known amount per hop, with noise. */
function cell(mesh: string, chain: number, repeat: number, p50Us: number, cpuMillicores: number): CellResult {
  return {
    id: `${mesh}-http1-s1-c${chain}-r${repeat}`, mesh: mesh as CellResult['mesh'], protocol: 'http1', services: 1, chain, repeat, index: 0,
    startedAt: '', finishedAt: '',
    load: { driver: 'native', model: 'open', requestedRps: 200, achievedRps: 200, requests: 2000, non2xx: 0, socketErrors: 0, connections: 4, measuredMs: 10_000, saturated: false,
      latencyUs: { p50: p50Us, p90: p50Us * 1.2, p99: p50Us * 2, p999: p50Us * 3, max: p50Us * 4, min: p50Us / 2, mean: p50Us, count: 2000 } },
    path: {},
    cpuSeconds: { [`server-1/server-app`]: cpuMillicores / 100 },
    notes: [],
  };
}

describe('cost per hop', () => {
  const rng = mulberry32(7);
  const noisy = (v: number, sd: number): number => v + sd * standardNormal(rng);
  const cells: CellResult[] = [];
  for (const repeat of [1, 2, 3]) {
    for (const chain of [1, 2, 3]) {
      cells.push(cell('baseline', chain, repeat, noisy(150 + 60 * chain, 3), noisy(10 + 5 * chain, 0.2)));
      cells.push(cell('sidecar', chain, repeat, noisy(300 + 260 * chain, 3), noisy(20 + 25 * chain, 0.2)));
    }
  }

  test('the slope per hop, and the mesh’s own cost per hop against the baseline', () => {
    const fits = chainFits(cells);
    const p50 = fits.find((f) => f.mesh === 'sidecar' && f.metric === 'p50')!;
    assert.ok(Math.abs(p50.fit!.slope - 260) < 10, `slope ${p50.fit!.slope}`);
    assert.ok(p50.fit!.slopeLow < 260 && 260 < p50.fit!.slopeHigh);
    assert.equal(p50.points.length, 9);
    assert.ok(Math.abs(p50.vsReference!.perHop - 200) < 12, `vs baseline ${p50.vsReference!.perHop}`);
    assert.ok(p50.vsReference!.low < 200 && 200 < p50.vsReference!.high);
    const cpu = fits.find((f) => f.mesh === 'sidecar' && f.metric === 'nodeCpu')!;
    assert.ok(Math.abs(cpu.fit!.slope - 25) < 1, `cpu slope ${cpu.fit!.slope}`);
    assert.equal(fits.find((f) => f.mesh === 'baseline' && f.metric === 'p50')!.vsReference, undefined);
  });

  test('fewer than three chain lengths: no fit', () => {
    assert.deepEqual(chainFits(cells.filter((c) => c.chain !== 3)), []);
  });

  test('the difference of two slopes: t with n₁ + n₂ − 4 degrees of freedom times the combined standard error', () => {
    const a = linearFit([1, 2, 3, 1, 2, 3], [10, 21, 29, 11, 19, 31])!;
    const b = linearFit([1, 2, 3, 1, 2, 3], [5, 6, 8, 4, 7, 7])!;
    const d = slopeDifference(a, b)!;
    assert.ok(Math.abs(d.perHop - (a.slope - b.slope)) < 1e-12);
    // t(0.975, 6 + 6 − 4 = 8) = 2.3060 times √(se₁² + se₂²)
    assert.ok(Math.abs((d.high - d.low) / 2 - 2.3060 * Math.sqrt(a.slopeSe ** 2 + b.slopeSe ** 2)) < 1e-3);
  });

  test('summary tables read the stored fits, NaN stored as null reads n/a', () => {
    const stored = JSON.parse(JSON.stringify(chainFits(cells)));
    const result = { cells, analysis: { overhead: [], chain: stored } } as unknown as RunResult;
    const tables = chainTables(result);
    assert.equal(tables.length, 2);
    assert.match(tables[0]!.heading, /per chain length/);
    assert.deepEqual(tables[0]!.rows.map((r) => `${r[0]} ${r[1]}`), ['baseline 1', 'baseline 2', 'baseline 3', 'sidecar 1', 'sidecar 2', 'sidecar 3']);
    const sidecarP50 = tables[1]!.rows.find((r) => r[0] === 'sidecar' && r[1] === 'p50 latency')!;
    assert.match(sidecarP50[2]!, /^\+2\d\d(\.\d)? \[\+2\d\d(\.\d)?, \+2\d\d(\.\d)?\] µs$/);
    assert.match(sidecarP50[3]!, /^\+(1\d\d|2\d\d)(\.\d)? \[/);
    assert.equal(tables[1]!.rows.find((r) => r[0] === 'baseline')![3], '(reference)');
  });
});

describe('two local nodes (nodes, placement)', () => {
  test('nodes: 2 with a placement is the topology; cross-node alternates the nodes hop by hop', () => {
    const cross = scenarioOf({ nodes: 2, placement: 'cross-node', chain: [1, 2, 3] });
    assert.deepEqual(cross.topology, { nodes: 2, placement: 'cross-node' });
    assert.deepEqual([1, 2, 3].map((hop) => nodeOfHop(cross, hop)), [1, 0, 1]);
    const same = scenarioOf({ nodes: 2 });
    assert.deepEqual(same.topology, { nodes: 2, placement: 'same-node' });
    assert.deepEqual([1, 2, 3].map((hop) => nodeOfHop(same, hop)), [0, 0, 0]);
    assert.equal(scenarioOf({}).topology, undefined);
    assert.equal(scenarioOf({ nodes: 1 }).topology, undefined);
  });

  test('bounds with field paths', () => {
    const problems = (extra: Record<string, unknown>) => {
      const r = validateScenario({ ...base, ...extra });
      assert.ok(!r.ok);
      return r.problems.map((p) => `${p.path}: ${p.message}`);
    };
    assert.deepEqual(problems({ nodes: 3 }), ['nodes: must be 1 or 2 (nodes of the local platform, joined by a wire), got 3']);
    assert.deepEqual(problems({ placement: 'cross-node' }), ['placement: only with nodes: 2 on platform local (or with platform kind or kubernetes), got nodes 1; add nodes: 2 or leave placement out']);
    assert.match(problems({ platform: 'kind', nodes: 2 }).join('\n'), /^nodes: only with platform local \(two nodes joined by a wire; kind: kind\.nodes\), got platform kind/m);
  });
});
