// The views read the analysis result.json stores; a result from before the whole analysis
// was stored (no comparisons, no fits) is analysed once, from its cells, when re-rendered,
// and then reads exactly as one that stored it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildReportModel } from '../../reports/model.ts';
import { renderReport } from '../../reports/report.ts';
import { withStoredAnalysis } from '../../reports/write.ts';
import { loadFixture } from '../fixtures/results/helpers.ts';

describe('views of the stored analysis', () => {
  test('report.html shows the comparisons result.json stores, and only those', () => {
    const stored = loadFixture('base');
    assert.ok((stored.analysis.comparisons ?? []).length > 0);
    const without = { ...stored, analysis: { overhead: stored.analysis.overhead } };
    // Read as stored: no comparisons stored, none shown.
    assert.notEqual(renderReport(without, buildReportModel(without)), renderReport(stored, buildReportModel(stored)), 'nothing recomputed by the view');
    // An old result analysed once when re-rendered reads as one that stored the analysis.
    const reanalysed = withStoredAnalysis(without);
    assert.equal(renderReport(reanalysed, buildReportModel(reanalysed)), renderReport(stored, buildReportModel(stored)));
    // A result that stored its analysis is taken as it is.
    assert.equal(withStoredAnalysis(stored), stored);
  });
});
