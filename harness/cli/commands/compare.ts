// `meshbench compare BASE NEW [--threshold 5%] [--md|--json]`: the regression gate.
// Exit 1 when any cell group regressed (the table names them), 0 otherwise; results of
// another schema or another scenario matrix are bad input (InputError, exit 2).
import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import { readRunResult } from '../../analysis/resultFile.ts';
import { compareRuns, parseThreshold } from '../../analysis/runComparison.ts';
import { formatComparisonJson, formatComparisonMarkdown, formatComparisonText } from '../../../reports/compare.ts';

const EXIT_REGRESSION = 1;

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description('regression gate: compare a run against a base run, cell group by cell group; exit 1 on regression')
    .argument('<base>', 'base run directory (or its result.json), e.g. last night')
    .argument('<new>', 'new run directory (or its result.json)')
    .option('--threshold <percent>', 'smallest change that counts as a regression', '5%')
    .option('--md', 'print the comparison as markdown')
    .option('--json', 'print the comparison as JSON')
    .action((basePath: string, nextPath: string, opts: { threshold: string; md?: boolean; json?: boolean }) => {
      if (opts.md && opts.json) {
        throw new InputError('compare', [{ path: '--md/--json', message: 'choose one output format' }]);
      }
      const thresholdPct = parseThreshold(opts.threshold);
      const base = readRunResult(basePath);
      const next = readRunResult(nextPath);
      const comparison = compareRuns(base, next, { thresholdPct });
      const format = opts.json ? formatComparisonJson : opts.md ? formatComparisonMarkdown : formatComparisonText;
      process.stdout.write(format(comparison));
      if (comparison.regressions.length > 0) {
        const groups = [...new Set(comparison.regressions.map((r) => r.group))];
        process.stderr.write(`meshbench compare: regression in ${groups.join(', ')}\n`);
        process.exitCode = EXIT_REGRESSION;
      } else {
        process.exitCode = 0;
      }
    });
}
