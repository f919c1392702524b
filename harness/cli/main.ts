// The command line. Typed errors become exit codes here and only here:
// 0 ok, 1 run failed / host cannot run it / regression, 2 bad input.
import { Command, CommanderError } from 'commander';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { constants as osConstants } from 'node:os';
import { fileSystemError, HostError, InputError } from '../errors.ts';
import { prepareResume } from './commands/resume.ts';
import { sampleEveryFromEnv } from '../probes/session.ts';
import { clean, formatCleanReport } from '../platform/local/clean.ts';
import { withPlatformFlags } from '../platform/kubernetes/cli.ts';
import { cleanKind, cleanKubernetes, formatKubeCleanReport } from '../platform/kubernetes/clean.ts';
import { renderTerminalTable } from '../results/summary.ts';
import { loadScenarioFile, validateFiles } from '../scenario/load.ts';
import { estimateDurationMs } from '../scenario/plan.ts';
import { platformFor } from '../platform/index.ts';
import { LocalPlatform } from '../platform/local/platform.ts';
import { runScenario } from '../runner/run.ts';
import { doctorChecks, formatChecks } from './doctor.ts';
import { formatCellProgress } from './progress.ts';
import { registerCompareCommand } from './commands/compare.ts';
import { registerDashboardCommand } from './commands/dashboard.ts';
import { registerExportCommand } from './commands/export.ts';
import { registerReportCommand } from './commands/report.ts';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_BAD_INPUT = 2;

/** Signals a user can send that stop a run: it cleans up, keeps finished cells, exits 128+n. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

interface RunFlags { out: string; json?: boolean; platform?: string; context?: string; resume?: string; allowConcurrent?: boolean }

async function runCommand(scenarioPath: string, opts: RunFlags): Promise<number> {
  sampleEveryFromEnv(); // a bad MESHBENCH_PROBES_SAMPLE_EVERY is bad input: refused before anything is made
  const resume = opts.resume === undefined ? undefined : await prepareResume(opts.resume);
  const scenario = resume ? resume.scenario : withPlatformFlags(await loadScenarioFile(scenarioPath), opts);
  // After a hang-up (SIGHUP: the terminal is gone) stderr may fail with EIO/EPIPE: the run
  // must still clean up and write its results, so a failed progress line is dropped.
  process.stderr.on('error', () => {});
  process.stdout.on('error', () => {});
  const err = (line: string): boolean => {
    try {
      return process.stderr.write(`${line}\n`);
    } catch {
      return false;
    }
  };
  // Checked before anything is created (HostError names what is missing: root, tools, a context).
  const run = runScenario(scenario, {
    outRoot: opts.out,
    platform: await platformFor(scenario),
    allowConcurrent: opts.allowConcurrent,
    ...(resume ? { resume: { runDir: resume.runDir, previous: resume.previous } } : {}),
  });
  if (resume) err(`resuming run ${run.runId} in ${resume.runDir}: ${resume.remaining} cells to run`);
  run.on('platform:log', (line) => err(`  ${line}`));
  const total = { cells: 0 };
  run.on('run:start', ({ runId, runDir, cells }) => {
    total.cells = cells.length;
    err(`meshbench run ${runId}: scenario ${scenario.name}, ${cells.length} cells, about ${Math.ceil(estimateDurationMs(scenario) / 60_000)} min`);
    err(`results: ${relative(process.cwd(), runDir) || runDir}`);
  });
  run.on('cell:start', (cell) => err(`[${cell.index + 1}/${total.cells}] ${cell.id} …`));
  run.on('cell:done', (cell) => err(`[${cell.index + 1}/${total.cells}] ${formatCellProgress(cell)}`));
  run.on('cell:failed', (cell, error) => err(`[${cell.index + 1}/${total.cells}] ${cell.id} FAILED: ${error.message}`));
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = sig;
    err(`\n${sig}: stopping, cleaning up, keeping finished cells…`);
    run.abort();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  const result = await run.done;
  for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
  try {
    if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stderr.write(`\n${renderTerminalTable(result)}\n`);
  } catch {
    /* no terminal any more (hung up): the results are on disk */
  }
  err(`\nrun directory: ${relative(process.cwd(), run.runDir) || run.runDir} (result.json, cells.jsonl, summary.md, report.html)`);
  err(`report: ${relative(process.cwd(), join(run.runDir, 'report.html'))}`);
  if (signalled) return 128 + osConstants.signals[signalled];
  return result.status === 'complete' ? EXIT_OK : EXIT_FAILED;
}

export function buildProgram(): Command {
  const program = new Command('meshbench')
    .description('What does a service mesh data plane cost? Sidecar proxies vs an eBPF per-node data path, measured.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('run')
    .description('run a scenario: every mesh × protocol × services cell, interleaved; results in runs/<run-id>/')
    .argument('[scenario]', 'scenario file', 'scenarios/quick.yaml')
    .option('--out <dir>', 'parent directory of run directories', 'runs')
    .option('--platform <name>', 'platform to run on (local, kind, kubernetes); overrides the scenario')
    .option('--context <name>', 'kubeconfig context of an existing cluster (platform kubernetes)')
    .option('--json', 'print result.json to stdout (progress stays on stderr)')
    .option('--resume <run-dir>', 'continue an interrupted or killed run in its directory: measured cells are kept, the rest run')
    .option('--allow-concurrent', 'measure even while another run measures on this host (every cell of both then says so)')
    .action(async (scenario: string, opts: RunFlags, command: Command) => {
      if (opts.resume !== undefined && command.args.length > 0) {
        throw new InputError('--resume', [{ path: '--resume', message: `continues the run's own scenario: give no scenario file, got "${command.args[0]}"` }]);
      }
      process.exitCode = await runCommand(scenario, opts);
    });

  program
    .command('validate')
    .description('check scenario files; every problem with its field path; exit 2 on any')
    .argument('<files...>', 'scenario files')
    .action(async (files: string[]) => {
      const { ok, output } = await validateFiles(files);
      (ok ? process.stdout : process.stderr).write(`${output}\n`);
      process.exitCode = ok ? EXIT_OK : EXIT_BAD_INPUT;
    });

  program
    .command('doctor')
    .description('what this host can run, and why not')
    .action(async () => {
      const checks = await doctorChecks();
      process.stdout.write(`${formatChecks(checks)}\n`);
      process.exitCode = checks.some((c) => c.required && !c.ok) ? EXIT_FAILED : EXIT_OK;
    });

  program
    .command('clean')
    .description('remove what runs left behind (namespaces, cgroups, bpf programs, processes), from state files and names')
    .option('--dry-run', 'only list what would be removed')
    .option('--run <id>', 'only this run')
    .option('--force', 'also remove runs whose owner process is still alive')
    .option('--json', 'print the report as JSON')
    .option('--platform <name>', 'kind: run-named kind clusters; kubernetes: run-labelled namespaces of --context (default local)')
    .option('--context <name>', 'kubeconfig context to clean (with --platform kubernetes)')
    .action(async (opts: { dryRun?: boolean; run?: string; force?: boolean; json?: boolean; platform?: string; context?: string }) => {
      if (opts.run !== undefined && !/^[0-9a-z]{5}$/.test(opts.run)) {
        throw new InputError('--run', [{ path: '--run', message: `must be a run id of 5 characters 0-9a-z, got "${opts.run}"` }]);
      }
      if (opts.platform === 'kind' || opts.platform === 'kubernetes') {
        if (opts.platform === 'kubernetes' && opts.context === undefined) {
          throw new InputError('--context', [{ path: '--context', message: 'missing: clean --platform kubernetes needs the context to clean' }]);
        }
        const cleanOptions = { dryRun: Boolean(opts.dryRun), runId: opts.run, force: opts.force };
        const kubeReport = opts.platform === 'kind' ? await cleanKind(cleanOptions) : await cleanKubernetes({ ...cleanOptions, context: opts.context! });
        process.stdout.write(opts.json ? `${JSON.stringify(kubeReport, null, 2)}\n` : `${formatKubeCleanReport(kubeReport)}\n`);
        process.exitCode = kubeReport.errors.length > 0 ? EXIT_FAILED : EXIT_OK;
        return;
      }
      if (opts.platform !== undefined && opts.platform !== 'local') {
        throw new InputError('--platform', [{ path: '--platform', message: `unknown platform "${opts.platform}" (expected one of local, kind, kubernetes)` }]);
      }
      LocalPlatform.check();
      const report = await clean({ dryRun: Boolean(opts.dryRun), runId: opts.run, force: opts.force, yieldCpu: true });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCleanReport(report)}\n`);
      process.exitCode = report.errors.length > 0 ? EXIT_FAILED : EXIT_OK;
    });
  registerReportCommand(program);
  registerCompareCommand(program);
  registerExportCommand(program);
  registerDashboardCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors are bad input.
      return err.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT;
    }
    if (err instanceof InputError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_BAD_INPUT;
    }
    if (err instanceof HostError) {
      process.stderr.write(`meshbench: ${err.message}\n`);
      return EXIT_FAILED;
    }
    // A file-system error no stage typed (a full disk under the report's charts): one line.
    const fsError = fileSystemError(err, (err as NodeJS.ErrnoException).path ?? '(unknown path)');
    if (fsError instanceof HostError) {
      process.stderr.write(`meshbench: ${fsError.message}\n`);
      return EXIT_FAILED;
    }
    process.stderr.write(`meshbench: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT_FAILED;
  }
}

const isEntry = process.argv[1] !== undefined && existsSync(process.argv[1]) &&
  (process.argv[1].endsWith('harness/cli/main.ts') || process.argv[1].endsWith('bin/meshbench.js'));
if (isEntry) {
  process.exitCode = await main(process.argv.slice(2));
}
