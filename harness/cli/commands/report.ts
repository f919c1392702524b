// `meshbench report RUN_DIR`: re-render report.html, summary.md and charts/*.svg from the
// run's result.json alone (an old run, or one whose views were lost).
import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { readRunResult } from '../../analysis/resultFile.ts';
import { CHARTS_DIR, writeRunReport } from '../../../reports/write.ts';

/** Relative to the working directory when inside it, else absolute. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description('re-render report.html, summary.md and charts/*.svg of a run from its result.json alone')
    .argument('<run-dir>', 'run directory (or its result.json)')
    .action(async (runDir: string) => {
      const result = readRunResult(runDir); // InputError (exit 2) names the bad field
      const dir = statSync(runDir).isDirectory() ? runDir : dirname(runDir);
      const written = await writeRunReport(dir, result);
      process.stderr.write(`wrote ${shownPath(written.summaryPath)} and ${written.chartPaths.length} charts in ${shownPath(`${dir}/${CHARTS_DIR}`)}\n`);
      // The report's path on stdout, for scripts.
      process.stdout.write(`${shownPath(written.reportPath)}\n`);
    });
}
