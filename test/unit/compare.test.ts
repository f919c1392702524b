// The regression gate on synthetic runs with known injected changes
// (test/fixtures/results/build.ts): a run against itself and against a re-run with fresh
// noise passes; a raised server delay or a slower sidecar path fails and names the cells.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareRuns, parseThreshold } from '../../harness/analysis/runComparison.ts';
import { InputError } from '../../harness/errors.ts';
import { formatComparisonMarkdown } from '../../reports/compare.ts';
import { fixturePath, loadFixture, meshbench, meshbenchInProcess } from '../fixtures/results/helpers.ts';

const base = loadFixture('base');

describe('compareRuns', () => {
  test('a run against itself: no change at all, no regression', () => {
    const c = compareRuns(base, base, { thresholdPct: 5 });
    assert.equal(c.regressions.length, 0);
    assert.equal(c.groups.length, 8);
    for (const g of c.groups) {
      assert.deepEqual(g.metrics.map((m) => `${m.metric}${m.gated ? '' : ' (not gated)'}`), ['p50', 'p99', 'rps', 'cpuPer1kRps (not gated)']);
      for (const m of g.metrics) {
        assert.equal(m.change.estimate, 0);
        assert.equal(m.verdict, 'within noise');
        assert.equal(m.pValue, 1);
      }
    }
  });

  test('a re-run with fresh noise: no regression', () => {
    const c = compareRuns(base, loadFixture('rerun'), { thresholdPct: 5 });
    assert.deepEqual(c.regressions, []);
    assert.deepEqual(c.scenarioDifferences, []);
  });

  test('a 25 % slower sidecar path at 4 services: exactly that cell group regresses, in p50 and p99', () => {
    const c = compareRuns(base, loadFixture('sidecar-slower'), { thresholdPct: 5 });
    assert.deepEqual(c.regressions.map((r) => `${r.group} ${r.metric}`), ['sidecar-http1-s4 p50', 'sidecar-http1-s4 p99']);
    const p50 = c.regressions[0]!;
    assert.ok(p50.changePct > 10 && p50.changePct < 30, `${p50.changePct}`);
    assert.ok(p50.lowPct > 0);
    const group = c.groups.find((g) => g.group === 'sidecar-http1-s4')!;
    assert.deepEqual(group.nextCells, ['sidecar-http1-s4-r1', 'sidecar-http1-s4-r2', 'sidecar-http1-s4-r3']);
  });

  test('workload.delay raised by 1 ms: every cell group regresses in latency, and the setting change is reported', () => {
    const c = compareRuns(base, loadFixture('delay-raised'), { thresholdPct: 5 });
    const latency = c.regressions.filter((r) => r.metric === 'p50').map((r) => r.group);
    assert.deepEqual(latency, [
      'baseline-http1-s1', 'sidecar-http1-s1', 'ebpf-http1-s1', 'ebpf-l4-http1-s1',
      'baseline-http1-s4', 'sidecar-http1-s4', 'ebpf-http1-s4', 'ebpf-l4-http1-s4',
    ]);
    assert.deepEqual(c.scenarioDifferences, ['workload.delayUs: 0 → 1000']);
    // The other way round it is an improvement, not a regression.
    const back = compareRuns(loadFixture('delay-raised'), base, { thresholdPct: 5 });
    assert.equal(back.regressions.length, 0);
    assert.ok(back.groups.every((g) => g.metrics.find((m) => m.metric === 'p50')!.verdict === 'improvement'));
  });

  test('a higher threshold lets a 25 % change through; its CI still excludes zero', () => {
    const c = compareRuns(base, loadFixture('sidecar-slower'), { thresholdPct: 30 });
    assert.deepEqual(c.regressions, []);
    const p50 = c.groups.find((g) => g.group === 'sidecar-http1-s4')!.metrics.find((m) => m.metric === 'p50')!;
    assert.equal(p50.verdict, 'below threshold');
  });

  test('different scenario axes or load model are bad input', () => {
    assert.throws(() => compareRuns(base, loadFixture('other-axes'), { thresholdPct: 5 }), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.deepEqual(err.problems.map((p) => p.path), ['scenario.meshes']);
      return true;
    });
    const closed = { ...base, scenario: { ...base.scenario, load: { ...base.scenario.load, model: 'closed' as const } } };
    assert.throws(() => compareRuns(base, closed, { thresholdPct: 5 }), /scenario\.load\.model/);
  });

  test('thresholds', () => {
    assert.deepEqual(['5%', '5 %', '5', '2.5%', '0%'].map(parseThreshold), [5, 5, 5, 2.5, 0]);
    for (const bad of ['', 'five', '-5%', '5%%', '0.05x']) assert.throws(() => parseThreshold(bad), InputError, bad);
  });

  test('markdown names the regressed cells in bold', () => {
    const md = formatComparisonMarkdown(compareRuns(base, loadFixture('sidecar-slower'), { thresholdPct: 5 }));
    assert.match(md, /^## meshbench compare: 2 regressions\n/);
    assert.match(md, /\| \*\*sidecar-http1-s4\*\* \| \*\*p50\*\* \|/);
    assert.doesNotMatch(md, /\*\*sidecar-http1-s1\*\*/);
  });
});

describe('meshbench compare BASE NEW', () => {
  test('against itself: exit 0', async () => {
    const r = await meshbenchInProcess(['compare', fixturePath('base'), fixturePath('base')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^No regression beyond 5 %/);
  });

  test('against a run with an injected change: exit 1, naming the cells (the binary itself)', async () => {
    const r = meshbench(['compare', fixturePath('base'), fixturePath('sidecar-slower'), '--threshold', '10%']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^2 regressions beyond 10 % in sidecar-http1-s4:/);
    assert.match(r.stdout, /sidecar-http1-s4\s+p50 .* REGRESSION/);
    assert.match(r.stderr, /regression in sidecar-http1-s4\n/);
    const delay = await meshbenchInProcess(['compare', fixturePath('base'), fixturePath('delay-raised'), '--json']);
    assert.equal(delay.status, 1);
    const json = JSON.parse(delay.stdout) as { regressions: Array<{ group: string }>; scenarioDifferences: string[] };
    assert.equal(new Set(json.regressions.map((r) => r.group)).size, 8);
    assert.deepEqual(json.scenarioDifferences, ['workload.delayUs: 0 → 1000']);
  });

  test('--md prints markdown', async () => {
    const r = await meshbenchInProcess(['compare', fixturePath('base'), fixturePath('rerun'), '--md']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^## meshbench compare: no regression\n/);
    assert.match(r.stdout, /\| cells \| figure \| base \| new \| change \[95 % CI\] \| p \| verdict \|/);
  });

  test('bad input: exit 2 (other schema, other axes, bad threshold, missing run)', async () => {
    const schema = await meshbenchInProcess(['compare', fixturePath('base'), fixturePath('bad-schema')]);
    assert.equal(schema.status, 2);
    assert.match(schema.stderr, /schema: expected "meshbench\/result@1", got "meshbench\/result@2"/);
    const axes = await meshbenchInProcess(['compare', fixturePath('base'), fixturePath('other-axes')]);
    assert.equal(axes.status, 2);
    assert.match(axes.stderr, /scenario\.meshes: differs: \[baseline, sidecar, ebpf, ebpf-l4\] in b7k2m, \[baseline, sidecar, ebpf\] in f2a6z/);
    const threshold = await meshbenchInProcess(['compare', fixturePath('base'), fixturePath('base'), '--threshold', 'lots']);
    assert.equal(threshold.status, 2);
    assert.match(threshold.stderr, /--threshold: must be a percentage/);
    const missing = await meshbenchInProcess(['compare', fixturePath('base'), fixturePath('no-such-run')]);
    assert.equal(missing.status, 2);
  });
});

describe('the gate’s false alarms', () => {
  test('two runs without any change (16 synthetic pairs, fresh noise each): at most one night flags a regression', async () => {
    const { syntheticRun } = await import('../fixtures/results/build.ts');
    let nights = 0;
    for (let i = 0; i < 16; i++) {
      const a = syntheticRun({ runId: 'a0000', seed: 500 + 2 * i, startedAt: '2026-02-01T00:00:00.000Z' });
      const b = syntheticRun({ runId: 'b0000', seed: 501 + 2 * i, startedAt: '2026-02-02T00:00:00.000Z' });
      if (compareRuns(a, b, { thresholdPct: 5, iterations: 500 }).regressions.length > 0) nights++;
    }
    assert.ok(nights <= 1, `${nights} of 16 nights raised a false alarm`);
  });
});
