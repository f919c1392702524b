// The dashboard over a synthetic nightly history (test/fixtures/results/build.ts): six
// nights, the sidecar made 30 % slower from night 5 on. The regression is marked on night
// 5 only (night 6 is as slow as night 5), every run links to its report, a bad run is
// skipped, not fatal.
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { buildDashboard, trendRows } from '../../reports/dashboard.ts';
import { syntheticHistory } from '../fixtures/results/build.ts';
import { assertContains, fixturePath, meshbenchInProcess, shown, tempDir } from '../fixtures/results/helpers.ts';

const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});
function temp(): string {
  const dir = tempDir();
  temps.push(dir);
  return dir;
}

describe('dashboard', () => {
  test('trends per mesh and figure, the regression marked on the night it happened, links to every report', async () => {
    const root = temp();
    const history = join(root, 'history');
    syntheticHistory(history, 6, 4);
    cpSync(fixturePath('bad-schema'), join(history, 'zz-broken'), { recursive: true });
    const site = join(root, 'site');
    const dashboard = await buildDashboard(history, site, { thresholdPct: 5, iterations: 1000 });

    assert.equal(dashboard.runs.length, 6);
    assert.equal(dashboard.skipped.length, 1);
    assert.match(dashboard.skipped[0]!.why, /schema: expected "meshbench\/result@1"/);
    const regressed = dashboard.runs.map((r) => [...new Set((r.comparison?.regressions ?? []).map((x) => x.group))].join(','));
    assert.deepEqual(regressed, ['', '', '', '', 'sidecar-http1-s1,sidecar-http1-s4', '']);

    const rows = trendRows(dashboard.runs, 'http1', 4, 'p50');
    const sidecar = rows.filter((r) => r.mesh === 'sidecar');
    assert.deepEqual(sidecar.map((r) => r.regression), [false, false, false, false, true, false]);
    assert.ok(sidecar[4]!.value > sidecar[3]!.value * 1.2);
    assert.ok(rows.filter((r) => r.mesh !== 'sidecar').every((r) => !r.regression));

    const index = readFileSync(dashboard.indexPath, 'utf8');
    for (const run of dashboard.runs) {
      assert.ok(existsSync(join(site, run.reportHref)), run.reportHref);
        assertContains(index, new RegExp(`<a href="${run.reportHref}">${run.result.runId}</a>`));
    }
    assertContains(index, /id="trend-http1-s4-p50"/);
    assertContains(index, /Gate: no regression beyond 5 % against the previous run\./);
    assert.equal(index.match(/<script\b/g)!.length, 4);
    const data = JSON.parse(readFileSync(join(site, 'history.json'), 'utf8')) as { runs: Array<{ runId: string; regressions: unknown[] }> };
    assert.deepEqual(data.runs.map((r) => r.regressions.length), [0, 0, 0, 0, 2 * 2, 0].map((n, i) => (i === 4 ? dashboard.runs[4]!.comparison!.regressions.length : n)));
  });

  test('history kept inside the site (a gh-pages branch): reports are linked in place, not copied', async () => {
    const site = temp();
    syntheticHistory(join(site, 'history'), 2);
    // Reports as the runs wrote them.
    for (const dir of ['2026-01-10-n0000', '2026-01-11-n0001']) cpSync(join(site, 'history', dir, 'result.json'), join(site, 'history', dir, 'report.html'));
    const dashboard = await buildDashboard(join(site, 'history'), site, { thresholdPct: 5, iterations: 300 });
    assert.deepEqual(dashboard.runs.map((r) => r.reportHref), ['history/2026-01-10-n0000/report.html', 'history/2026-01-11-n0001/report.html']);
    assert.ok(!existsSync(join(site, 'runs')));
  });

  test('meshbench dashboard HISTORY --out SITE; an empty history is bad input', async () => {
    const root = temp();
    syntheticHistory(join(root, 'history'), 2);
    const r = await meshbenchInProcess(['dashboard', join(root, 'history'), '--out', join(root, 'site')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), shown(join(root, 'site', 'index.html')));
    const empty = await meshbenchInProcess(['dashboard', join(root, 'site', 'runs', 'nothing-here-yet'), '--out', join(root, 'site2')]);
    assert.equal(empty.status, 2);
    assert.match(empty.stderr, /no such history directory/);
  });
});
