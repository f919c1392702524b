// Writing a run's views next to its result.json: report.html, the charts as SVG files
// (charts/*.svg) and summary.md with those charts linked. Rendering is pure (report.ts,
// model.ts, summary.ts); this is the I/O.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { analyseRun } from '../harness/analysis/analyse.ts';
import { SUMMARY_FILE, writeFileAtomic } from '../harness/results/files.ts';
import { renderSummaryMarkdown } from '../harness/results/summary.ts';
import type { RunResult } from '../harness/results/types.ts';
import { buildReportModel, type ReportChart } from './model.ts';
import { REPORT_FILE, renderReport } from './report.ts';
import { renderChartSvg } from './svg.ts';

export const CHARTS_DIR = 'charts';

export interface WrittenReport {
  reportPath: string;
  summaryPath: string;
  chartPaths: string[];
}

/** summary.md: the run summary, then the report's charts as images (SVG files beside it). */
export function renderSummaryWithCharts(result: RunResult, charts: readonly Pick<ReportChart, 'id' | 'title'>[]): string {
  const summary = renderSummaryMarkdown(result);
  if (charts.length === 0) return summary;
  const images = charts.map((c) => `![${c.title.replace(/[[\]]/g, '')}](${CHARTS_DIR}/${c.id}.svg)`);
  return `${summary}\n## Charts\n\nThe full report with interactive charts is [report.html](${REPORT_FILE}).\n\n${images.join('\n\n')}\n`;
}

/**
 * The views read the stored analysis (result.json `analysis`) and never recompute it. A
 * result written before the whole analysis was stored (no `comparisons`) is analysed once,
 * here, from its cells, so `meshbench report` re-renders any run from result.json alone.
 */
export function withStoredAnalysis(result: RunResult): RunResult {
  return result.analysis.comparisons ? result : { ...result, analysis: { ...analyseRun(result.cells), ...result.analysis } };
}

export async function writeRunReport(runDir: string, stored: RunResult): Promise<WrittenReport> {
  const result = withStoredAnalysis(stored);
  const model = buildReportModel(result);
  const chartsDir = join(runDir, CHARTS_DIR);
  mkdirSync(chartsDir, { recursive: true });
  const chartPaths: string[] = [];
  const wanted = new Set(model.charts.map((c) => `${c.id}.svg`));
  for (const stale of readdirSync(chartsDir)) if (stale.endsWith('.svg') && !wanted.has(stale)) rmSync(join(chartsDir, stale));
  for (const chart of model.charts) {
    const path = join(chartsDir, `${chart.id}.svg`);
    writeFileAtomic(path, await renderChartSvg(chart.spec));
    chartPaths.push(path);
  }
  const reportPath = join(runDir, REPORT_FILE);
  writeFileAtomic(reportPath, renderReport(result, model));
  const summaryPath = join(runDir, SUMMARY_FILE);
  writeFileAtomic(summaryPath, renderSummaryWithCharts(result, model.charts));
  return { reportPath, summaryPath, chartPaths };
}
