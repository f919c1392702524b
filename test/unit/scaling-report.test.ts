// The sweep in the report and in summary.md: the "cost as the node fills" section with its
// charts (memory, CPU, p99 against services, idle cost) and the fit table with the
// extrapolation caveat; summary.md's fit and idle tables. On the synthetic sweep of
// test/fixtures/scaling.ts, whose slopes are known.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderSummaryMarkdown } from '../../harness/results/summary.ts';
import { buildReportModel } from '../../reports/model.ts';
import { renderReport } from '../../reports/report.ts';
import { renderChartSvg } from '../../reports/svg.ts';
import { scalingFits } from '../../harness/analysis/scaling.ts';
import { sweepRun } from '../fixtures/scaling.ts';

describe('cost as the node fills', () => {
  const result = sweepRun();

  test('summary.md: the fit table per added service, the idle table, the caveat', () => {
    const md = renderSummaryMarkdown(result);
    assert.match(md, /## http1 · cost as the node fills — per added service \(linear fit over 1, 5, 10, 30 services\)/);
    const sidecarMemory = md.split('\n').find((l) => l.startsWith('| sidecar | proxy memory (peak RSS, under load) |'))!;
    assert.match(sidecarMemory, /\| \+14\.00 \[\+13\.9\d, \+14\.0\d\] MiB \|/);
    assert.match(sidecarMemory, /\| 1\.000 \| 8 \| 14\d\d\.\d \[.*\] MiB \* \|/, 'R², points, the line at 100 services, extrapolated');
    assert.ok(!md.includes('| baseline | proxy memory'), 'no proxy, no proxy figures');
    assert.match(md, /## http1 · idle cost — no load, 5 s window/);
    assert.match(md, /\| sidecar \| 30 \| 31 \| 403 MiB \| 12\.4 mCPU \| 62\.0\/s \|/);
    assert.match(md, /\| baseline \| 30 \| 0 \| — \(no proxy\) \|/);
    assert.match(md, /\* extrapolated\. Figures beyond the largest measured service count are extrapolations/);
  });

  test('report.html: the section, its charts and tables, in the table of contents', () => {
    const model = buildReportModel(result);
    const ids = model.charts.map((c) => c.id).filter((id) => id.startsWith('scaling-'));
    assert.deepEqual(ids, ['scaling-memory', 'scaling-cpu', 'scaling-p99', 'scaling-idle-memory', 'scaling-idle-cpu']);
    const html = renderReport(result, model);
    assert.match(html, /<a href="#scaling">cost as the node fills<\/a>/);
    assert.match(html, /<section id="scaling">\n<h2>Cost as the node fills<\/h2>/);
    for (const id of ids) assert.ok(html.includes(`id="chart-${id}"`), id);
    assert.ok(html.includes('per added service [95 % CI]'));
    assert.ok(html.includes('* extrapolated.'));
  });

  test('the memory chart: a point per cell, the fitted line per mesh, flat zero without proxies', () => {
    const chart = buildReportModel(result).charts.find((c) => c.id === 'scaling-memory')!;
    const rows = (chart.spec as { data: { values: Array<{ mesh: string; services: number; value: number; kind: string }> } }).data.values;
    assert.equal(rows.filter((r) => r.kind === 'cell').length, result.cells.length);
    const fit = rows.filter((r) => r.mesh === 'sidecar' && r.kind === 'fit');
    assert.deepEqual(fit.map((r) => r.services), [1, 30]);
    assert.ok(Math.abs(fit[1]!.value - fit[0]!.value - 14 * 29) < 2);
    assert.deepEqual(rows.filter((r) => r.mesh === 'baseline' && r.kind === 'fit').map((r) => r.value), [0, 0]);
  });

  test('every chart renders to SVG in Node', async () => {
    for (const chart of buildReportModel(result).charts.filter((c) => c.id.startsWith('scaling-'))) {
      const svg = await renderChartSvg(chart.spec);
      assert.match(svg, /^<svg/, chart.id);
    }
  });

  test('a run of one service count: no fits, no section charts', () => {
    const cells = result.cells.filter((c) => c.services === 10);
    const one = { ...result, cells, scenario: { ...result.scenario, services: [10] }, analysis: { overhead: [], scaling: scalingFits(cells) } };
    const model = buildReportModel(one);
    assert.equal(model.charts.filter((c) => c.id.startsWith('scaling-')).length, 0);
    assert.ok(!renderSummaryMarkdown(one).includes('cost as the node fills'));
    // The idle window is still reported.
    assert.ok(renderReport(one, model).includes('idle cost'));
  });
});
