// report.html, its vega-lite specs and summary.md, from result.json alone: snapshots of
// the specs and the markdown (synthetic fixtures, test/fixtures/results/build.ts), the
// page's self-containment and escaping, and `meshbench report` on good and bad inputs.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readRunResult } from '../../harness/analysis/resultFile.ts';
import { renderSummaryMarkdown } from '../../harness/results/summary.ts';
import type { RunResult } from '../../harness/results/types.ts';
import { escapeHtml, jsonForScript } from '../../reports/html.ts';
import { buildReportModel, signedPct, signedUs } from '../../reports/model.ts';
import { renderReport } from '../../reports/report.ts';
import { renderChartSvg } from '../../reports/svg.ts';
import { renderSummaryWithCharts } from '../../reports/write.ts';
import { syntheticRun } from '../fixtures/results/build.ts';
import { assertContains, assertLacks, copyFixture, fixturePath, loadFixture, matchSnapshot, meshbench, meshbenchInProcess, tempDir } from '../fixtures/results/helpers.ts';

const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('report model and specs', () => {
  const base = loadFixture('base');
  const model = buildReportModel(base);

  test('the vega-lite specs match their snapshot', () => {
    const specs = Object.fromEntries(model.charts.map((c) => [c.id, c.spec]));
    assert.deepEqual(Object.keys(specs), [
      'latency-http1-s1',
      'overhead-http1-s1',
      'latency-http1-s4',
      'overhead-http1-s4',
      'throughput',
      'cpu',
      'memory',
    ]);
    matchSnapshot('report-specs-base.json', `${JSON.stringify(specs, null, 2)}\n`);
  });

  test('summary.md: the run summary (snapshot-tested with it), then the charts as SVG images (snapshot here)', () => {
    const markdown = renderSummaryWithCharts(base, model.charts);
    const summary = renderSummaryMarkdown(base);
    assert.ok(markdown.startsWith(summary));
    const charts = markdown.slice(summary.length);
    assert.match(charts, /!\[Latency by percentile — http1 · 4 services\]\(charts\/latency-http1-s4\.svg\)/);
    matchSnapshot('report-summary-charts-base.md', charts);
  });

  test('the verdict: one sentence, every mesh with its interval, from the group with the most services', () => {
    assert.equal(
      model.verdict,
      'At 300 req/s over 4 services (http1), the median request took, over no mesh: sidecar proxies +376 µs (+222 %; 95 % CI +344 µs to +390 µs), ' +
        'the eBPF path with a node proxy +192 µs (+114 %; 95 % CI +181 µs to +196 µs) and the eBPF L4 path (no proxy) −16 µs (−9.5 %; 95 % CI −23 µs to −9.0 µs).',
    );
    const same = syntheticRun({ runId: 'zzzzz', seed: 1, startedAt: '2026-01-15T02:00:00.000Z', scenario: { services: [1], repeats: 3 }, slowdown: { 'ebpf-l4': 160 / 152 } });
    assert.match(buildReportModel(same).verdict, /the eBPF L4 path \(no proxy\) [^(]+\(95 % CI −[^)]+ to \+[^)]+: not distinguishable from no mesh\)/);
  });

  test('the curves come from the histograms: pooled repeats, HdrHistogram percentiles', () => {
    const spec = model.charts.find((c) => c.id === 'latency-http1-s1')!.spec as { data: { values: Array<{ mesh: string; percentile: number; latencyUs: number }> } };
    const baseline = spec.data.values.filter((r) => r.mesh === 'baseline');
    assert.equal(baseline[0]!.percentile, 0);
    const p50 = baseline.find((r) => r.percentile === 50)!.latencyUs;
    const cellP50s = base.cells.filter((c) => c.mesh === 'baseline' && c.services === 1).map((c) => c.load.latencyUs.p50);
    assert.ok(p50 >= Math.min(...cellP50s) && p50 <= Math.max(...cellP50s), `${p50} within ${cellP50s}`);
    const max = Math.max(...base.cells.filter((c) => c.mesh === 'baseline' && c.services === 1).map((c) => c.load.latencyUs.max));
    assert.equal(baseline.at(-1)!.latencyUs, max);
  });

  test('without histograms and probes: curves from the stored percentiles, CPU from /proc, no memory chart', () => {
    const old = syntheticRun({ runId: 'old01', seed: 9, startedAt: '2026-01-02T00:00:00.000Z', withoutHistograms: true, withoutProbes: true, scenario: { services: [1] } });
    const m = buildReportModel(old);
    assert.deepEqual(m.charts.map((c) => c.id), ['latency-http1-s1', 'overhead-http1-s1', 'throughput', 'cpu']);
    assert.match(m.charts.find((c) => c.id === 'cpu')!.caption, /\/proc utime \+ stime/);
    const rows = (m.charts[0]!.spec as { data: { values: Array<{ mesh: string; percentile: number }> } }).data.values;
    const percentiles = rows.filter((r) => r.mesh === 'sidecar').map((r) => r.percentile);
    assert.deepEqual(percentiles.slice(0, 5), [0, 50, 90, 99, 99.9]);
    assert.ok(percentiles[5]! > 99.96 && percentiles[5]! < 99.97, `max at ${percentiles[5]}`); // 1 − 1/count
    assert.ok(m.comparisons.every((c) => c.metrics.every((x) => x.basis === 'repeats')));
  });

  test('a run with no cells says so, and has no charts', () => {
    const empty: RunResult = { ...loadFixture('base'), cells: [], status: 'failed', notes: ['cell baseline-http1-s1-r1 failed: haproxy did not start'] };
    const m = buildReportModel(empty);
    assert.equal(m.charts.length, 0);
    assert.match(m.verdict, /^Nothing was measured/);
    assert.ok(m.notes.some((n) => n.startsWith('Not measured (24 of 24 planned cells)')));
    assertContains(renderReport(empty), /haproxy did not start/);
  });

  test('every chart also renders to SVG in Node', async () => {
    for (const chart of model.charts) {
      const svg = await renderChartSvg(chart.spec);
      assert.ok(/^<svg[^>]+class="marks"/.test(svg), chart.id);
      assertLacks(svg, /NaN|undefined/, chart.id);
    }
  });

  test('a measured run (real-quick): read back through the schema, every chart drawn, every probe figure used', async () => {
    const real = readRunResult(fixturePath('real-quick'));
    const m = buildReportModel(real);
    assert.deepEqual(m.charts.map((c) => c.id), ['latency-http1-s1', 'overhead-http1-s1', 'throughput', 'cpu', 'memory']);
    assert.match(m.charts.find((c) => c.id === 'cpu')!.caption, /eBPF cpu probe/);
    assert.deepEqual(m.probes.ran, ['dwell', 'runq', 'cpu', 'connect', 'memory']);
    assert.ok(m.probes.cost && m.probes.cost.bpfInvocations > 0);
    for (const chart of m.charts) assertLacks(await renderChartSvg(chart.spec), /NaN|undefined/, chart.id);
    // The load driver (client app) is probed but not counted as data-path cost.
    const cpuRows = (m.charts.find((c) => c.id === 'cpu')!.spec as { data: { values: Array<{ role: string }> } }).data.values;
    assert.ok(cpuRows.length > 0 && cpuRows.every((r) => r.role !== 'client-app'));
  });

  test('number formatting: signs, units, percentages', () => {
    assert.deepEqual([signedUs(412.3), signedUs(-5), signedUs(0), signedUs(1500)], ['+412 µs', '−5.0 µs', '0.0 µs', '+1.50 ms']);
    assert.deepEqual([signedPct(12.34), signedPct(-0.04), signedPct(250), signedPct(Number.NaN)], ['+12.3 %', '0 %', '+250 %', 'n/a']);
  });
});

describe('report.html', () => {
  const base = loadFixture('base');
  const html = renderReport(base);

  test('is one self-contained page: vega and vega-lite inlined, nothing fetched', () => {
    assertContains(html, /^<!doctype html>/);
    assertContains(html, /<script data-library="vega@6\.[\d.]+">/);
    assertContains(html, /<script data-library="vega-lite@6\.4\.[\d.]+">/);
    assertLacks(html, /<script[^>]+\bsrc=/i);
    assertLacks(html, /<link\b/i);
    assertLacks(html, /<img\b/i);
    assertLacks(html, /sourceMappingURL/);
    assertContains(html, /Content-Security-Policy" content="default-src &#39;none&#39;/);
    // Exactly the four scripts: two libraries, the chart specs (JSON), the bootstrap.
    assert.equal(html.match(/<script\b/g)!.length, 4);
    for (const id of ['latency-http1-s1', 'overhead-http1-s4', 'throughput', 'cpu', 'memory']) assertContains(html, new RegExp(`id="chart-${id}"`));
  });

  test('has the question and verdict at the top, environment, proxy, probes and notes', () => {
    const top = html.slice(html.indexOf('<body>'), html.indexOf('<body>') + 1200);
    assertContains(top, /What does a service mesh’s data plane cost/);
    assertContains(top, /class="verdict"/);
    assertContains(html, /HAProxy 2\.6\.12-1\+deb12u2/);
    assertContains(html, /6\.1\.0-28-amd64/);
    assertContains(html, /eBPF probes that ran: <code>cpu<\/code>, <code>memory<\/code>/);
    assertContains(html, /<code>dwell<\/code>: not loaded in this synthetic fixture/);
    assertContains(html, /SYNTHETIC fixture/);
    assertContains(html, /smallest possible permutation p is 0\.20/);
  });

  test('scenario text, notes and host strings are escaped, also inside the chart JSON', () => {
    const hostile = renderReport(loadFixture('hostile-text'));
    assertLacks(hostile, /<script>alert/);
    assertLacks(hostile, /<img src=x/);
    assertLacks(hostile, /<b>bold/);
    assertContains(hostile, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &lt;b&gt;bold&lt;\/b&gt;/);
    assert.equal(hostile.match(/<script\b/g)!.length, 4);
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    assert.equal(jsonForScript({ t: '</script><!--' }), '{"t":"\\u003c/script\\u003e\\u003c!--"}');
    assert.deepEqual(JSON.parse(jsonForScript({ t: '</script>\u2028' })), { t: '</script>\u2028' });
  });

  test('rendering is reproducible: the same result gives the same page', () => {
    assert.equal(renderReport(base), html);
  });
});

describe('meshbench report RUN_DIR', () => {
  test('re-renders report.html, summary.md and charts/*.svg from result.json alone', () => {
    const dir = copyFixture('base');
    temps.push(join(dir, '..'));
    const r = meshbench(['report', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().endsWith('report.html'), true, r.stdout);
    assert.equal(readFileSync(join(dir, 'report.html'), 'utf8'), renderReport(loadFixture('base')));
    assert.match(readFileSync(join(dir, 'summary.md'), 'utf8'), /## Charts/);
    assert.deepEqual(readdirSync(join(dir, 'charts')).sort(), [
      'cpu.svg',
      'latency-http1-s1.svg',
      'latency-http1-s4.svg',
      'memory.svg',
      'overhead-http1-s1.svg',
      'overhead-http1-s4.svg',
      'throughput.svg',
    ]);
  });

  test('a bad result.json: exit 2, every bad field named by its path (the binary itself)', () => {
    const r = meshbench(['report', copyFixture('bad-fields', tempTracked())]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /result\.json: 3 problems/);
    assert.match(r.stderr, /environment\.cores: Invalid input: expected number, received string, got "four"/);
    assert.match(r.stderr, /cells\[1\]\.load\.latencyUs\.p99: missing \(expected number\)/);
    assert.match(r.stderr, /cells\[2\]\.load\.histogram: not an HDR histogram/);
  });

  test('another schema, no result.json, no directory: exit 2 with the reason', async () => {
    const schema = await meshbenchInProcess(['report', copyFixture('bad-schema', tempTracked())]);
    assert.equal(schema.status, 2);
    assert.match(schema.stderr, /schema: expected "meshbench\/result@1", got "meshbench\/result@2"/);
    const emptyDir = tempTracked();
    const missing = await meshbenchInProcess(['report', emptyDir]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /result\.json: 1 problem\n {2}\(file\): missing: a run directory holds result\.json/);
    const nowhere = await meshbenchInProcess(['report', join(emptyDir, 'nope')]);
    assert.equal(nowhere.status, 2);
    assert.match(nowhere.stderr, /no such run directory or result file/);
    assert.ok(!existsSync(join(emptyDir, 'report.html')));
  });
});

function tempTracked(): string {
  const dir = tempDir();
  temps.push(dir);
  return dir;
}
