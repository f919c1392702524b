// A run: plan the cells, run them one after another (interleaved meshes), append each
// finished cell to cells.jsonl, then write result.json and summary.md. The runner only
// runs and emits events; progress printing subscribes (as autocannon's runner does).
import { EventEmitter } from 'node:events';
import { join, resolve } from 'node:path';
import { computeOverhead } from '../analysis/overhead.ts';
import { compareMeshesToBaseline } from '../analysis/compare.ts';
import { scalingFits } from '../analysis/scaling.ts';
import { writeRunReport } from '../../reports/write.ts';
import { newRunId } from '../platform/local/names.ts';
import { StateFile } from '../platform/local/state.ts';
import { cpuPlacement } from '../platform/local/cluster.ts';
import { enableBpfStats } from '../probes/cost.ts';
import { Haproxy } from '../proxy/haproxy.ts';
import { collectEnvironment, meshbenchVersion } from '../results/environment.ts';
import { createRunDir, STATE_FILE, SUMMARY_FILE, writeFileAtomic, writeResult } from '../results/files.ts';
import { renderSummaryMarkdown } from '../results/summary.ts';
import { RESULT_SCHEMA, type CellResult, type RunResult } from '../results/types.ts';
import { planCells } from '../scenario/plan.ts';
import type { Cell, Scenario } from '../scenario/types.ts';
import { runCell } from './cell.ts';
import { runCellsInOrder } from './cells.ts';

export interface RunOptions {
  /** Parent directory of run directories (default `runs/`). */
  outRoot: string;
}

export interface RunEvents {
  'run:start': [{ runId: string; runDir: string; cells: Cell[] }];
  'cell:start': [Cell];
  'cell:done': [CellResult];
  'cell:failed': [Cell, Error];
}

export class ScenarioRun extends EventEmitter<RunEvents> {
  readonly runId = newRunId();
  readonly runDir: string;
  readonly done: Promise<RunResult>;
  private readonly abortController = new AbortController();

  constructor(
    readonly scenario: Scenario,
    options: RunOptions,
  ) {
    super();
    this.runDir = createRunDir(resolve(options.outRoot), this.runId);
    // Started on the next tick so callers can subscribe first.
    this.done = new Promise((r) => setImmediate(r)).then(() => this.execute());
  }

  /** Stops the run (SIGINT/SIGTERM): the current cell tears down, finished cells are kept. */
  abort(): void {
    this.abortController.abort();
  }

  get aborted(): boolean {
    return this.abortController.signal.aborted;
  }

  private async execute(): Promise<RunResult> {
    const cells = planCells(this.scenario);
    const proxy = new Haproxy();
    const state = new StateFile(join(this.runDir, STATE_FILE), this.runId);
    const result: RunResult = {
      schema: RESULT_SCHEMA,
      meshbench: meshbenchVersion(),
      runId: this.runId,
      startedAt: new Date().toISOString(),
      status: 'complete',
      environment: await collectEnvironment({ name: proxy.name, version: await proxy.version() }, cpuPlacement()),
      scenario: this.scenario,
      cells: [],
      analysis: { overhead: [] },
      notes: [],
    };
    if (result.environment.cores < 2) {
      result.notes.push('only one CPU: the load driver shares it with the system under test, so its cost is mixed into every figure');
    }
    this.emit('run:start', { runId: this.runId, runDir: this.runDir, cells });
    // The kernel's BPF run-time accounting gives each cell the probes' own CPU cost.
    const restoreBpfStats = this.scenario.probes.length > 0 ? enableBpfStats() : () => {};
    try {
      const env = { runId: this.runId, state, proxy, scenario: this.scenario, signal: this.abortController.signal };
      await runCellsInOrder(cells, (cell) => runCell(cell, env), {
        runDir: this.runDir,
        result,
        events: this,
        aborted: () => this.aborted,
      });
    } finally {
      restoreBpfStats();
      if (this.aborted) {
        result.status = 'interrupted';
        result.notes.push(`interrupted after ${result.cells.length} of ${cells.length} cells; finished cells are kept`);
      }
      state.close();
      result.finishedAt = new Date().toISOString();
      result.analysis.overhead = computeOverhead(result.cells);
      result.analysis.comparisons = compareMeshesToBaseline(result.cells);
      const scaling = scalingFits(result.cells);
      if (scaling.length > 0) result.analysis.scaling = scaling;
      writeResult(this.runDir, result);
      writeFileAtomic(join(this.runDir, SUMMARY_FILE), renderSummaryMarkdown(result));
      await writeRunReport(this.runDir, result); // report.html, charts/*.svg, summary.md with charts
    }
    return result;
  }
}

export function runScenario(scenario: Scenario, options: RunOptions): ScenarioRun {
  return new ScenarioRun(scenario, options);
}
