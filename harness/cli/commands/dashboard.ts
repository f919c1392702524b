// `meshbench dashboard HISTORY_DIR --out SITE_DIR`: the static site over many runs (nightly
// history): trends per mesh and figure, regressions marked, a link to every run's report.
import type { Command } from 'commander';
import { relative } from 'node:path';
import { parseThreshold } from '../../analysis/runComparison.ts';
import { buildDashboard } from '../../../reports/dashboard.ts';

/** Relative to the working directory when inside it, else absolute. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('build the static dashboard over a directory of run directories (trends, regressions, links to reports)')
    .argument('<history-dir>', 'directory whose subdirectories are run directories (each with a result.json)')
    .requiredOption('--out <site-dir>', 'where to write the site (index.html, history.json, runs/…/report.html)')
    .option('--threshold <percent>', 'regression threshold, as for compare', '5%')
    .action(async (historyDir: string, opts: { out: string; threshold: string }) => {
      const dashboard = await buildDashboard(historyDir, opts.out, { thresholdPct: parseThreshold(opts.threshold) });
      for (const s of dashboard.skipped) process.stderr.write(`skipped: ${s.why}\n`);
      process.stderr.write(`${dashboard.runs.length} runs, ${dashboard.skipped.length} skipped\n`);
      process.stdout.write(`${shownPath(dashboard.indexPath)}\n`);
    });
}
