// `meshbench export RUN_DIR --format smp [--out FILE]`: the run in another tool's format.
// SMP (Service Mesh Performance, what Meshery reads): one set of messages per cell.
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { InputError } from '../../errors.ts';
import { readRunResult } from '../../analysis/resultFile.ts';
import { toSmp } from '../../../reports/smp.ts';

const FORMATS = ['smp'] as const;

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('export a run in another format: smp (Service Mesh Performance, as Meshery reads it), one result per cell')
    .argument('<run-dir>', 'run directory (or its result.json)')
    .requiredOption('--format <format>', `output format (${FORMATS.join(', ')})`)
    .option('--out <file>', 'write to this file instead of stdout')
    .action((runDir: string, opts: { format: string; out?: string }) => {
      if (!(FORMATS as readonly string[]).includes(opts.format)) {
        throw new InputError('--format', [{ path: '--format', message: `unknown format "${opts.format}" (expected one of ${FORMATS.join(', ')})` }]);
      }
      const text = `${JSON.stringify(toSmp(readRunResult(runDir)), null, 2)}\n`;
      if (opts.out) {
        writeFileSync(opts.out, text);
        process.stderr.write(`wrote ${opts.out}\n`);
      } else {
        process.stdout.write(text);
      }
    });
}
