// The waterfall of "where the latency goes": its vega-lite spec (snapshot), its bars from the
// stored decomposition (cumulative, ending at the driver's mean), the report section and the
// summary tables reading result.json's analysis.decomposition.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decomposeCell, decomposeMeshes, decompositionTables, decompositionWords } from '../../harness/analysis/decomposition.ts';
import type { RunResult } from '../../harness/results/types.ts';
import { decompositionCharts, decompositionSection, waterfallRows } from '../../reports/decomposition.ts';
import { renderChartSvg } from '../../reports/svg.ts';
import { baselineInput, sidecarInput } from '../fixtures/decomposition.ts';
import { matchSnapshot } from '../snapshot.ts';

const cell = (mesh: 'baseline' | 'sidecar', input: ReturnType<typeof sidecarInput>) => ({
  mesh, protocol: 'http1' as const, services: 1, load: { saturated: false }, decomposition: decomposeCell(input)!,
});
const stored = decomposeMeshes([cell('sidecar', sidecarInput()), cell('baseline', baselineInput())]);
const result = { analysis: { overhead: [], decomposition: stored } } as unknown as RunResult;

describe('the waterfall of where the latency goes', () => {
  test('its bars run from the client\'s send() to the driver\'s mean, in path order', () => {
    const sidecar = waterfallRows(stored.find((m) => m.mesh === 'sidecar')!);
    assert.equal(sidecar[0]!.step, 'client-app → client-sidecar: send + transit');
    assert.equal(sidecar[0]!.startUs, 0);
    for (let i = 1; i < sidecar.length; i++) assert.equal(sidecar[i]!.startUs, sidecar[i - 1]!.endUs, sidecar[i]!.step);
    assert.equal(sidecar.at(-1)!.endUs, stored.find((m) => m.mesh === 'sidecar')!.totals.driverUs);
    assert.equal(sidecar.filter((r) => r.category === 'user space').length, 3);
  });

  test('the vega-lite spec matches its snapshot and renders', async () => {
    const [chart] = decompositionCharts(result);
    assert.ok(chart);
    matchSnapshot('decomposition-waterfall.json', `${JSON.stringify(chart.spec, null, 2)}\n`);
    const svg = await renderChartSvg(chart.spec);
    assert.match(svg, /^<svg/);
    assert.ok(svg.includes('client-sidecar (user space)'));
  });

  test('the report section and summary tables read the stored figures', () => {
    const html = decompositionSection(result, decompositionCharts(result));
    assert.match(html, /<section id="decomposition">/);
    assert.ok(html.includes('id="chart-decomposition-waterfall"'));
    assert.match(html, /sidecar \+103 µs \(mean\) = \+35 µs in proxies/);
    const tables = decompositionTables(stored);
    assert.deepEqual(tables.map((t) => t.heading), [
      'http1 · 1 service — where the latency goes, along the path (mean per request)',
      "http1 · 1 service — where each mesh's Δ vs baseline goes (mean per request)",
    ]);
    assert.deepEqual(tables[1]!.rows[0]!.slice(0, 9), ['sidecar', '+103.0 µs', '+35.0 µs', '+28.0 µs', '+40.0 µs', '+0.0 µs', '+0.0 µs', '+0.0 µs', '4']);
    const words = decompositionWords(stored);
    assert.equal(words.length, 2);
    assert.match(words[1]!, /^where the latency goes: in 0 of 2 cells each part's p50 is its mean over the whole requests around the median round trip/);
  });
});
