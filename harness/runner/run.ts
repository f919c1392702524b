// One run, on any platform: plan the cells, provision the platform, run the cells one after
// another (interleaved meshes), append each finished cell to cells.jsonl, tear the platform
// down, analyse, then write result.json, summary.md and report.html. The runner only runs
// and emits events; progress printing subscribes (as autocannon's runner does). It does not
// know which platform it talks to (harness/platform/types.ts).
import { EventEmitter } from 'node:events';
import { analyseRun } from '../analysis/analyse.ts';
import { writeRunReport } from '../../reports/write.ts';
import { newRunId } from '../platform/local/names.ts';
import type { Platform, PlatformFacts, RunContext } from '../platform/types.ts';
import { collectEnvironment, meshbenchVersion } from '../results/environment.ts';
import { createRunDir, SUMMARY_FILE, writeFileAtomic, writeResult, writeRunStart } from '../results/files.ts';
import { claimHost, describeLiveRun, unclaimedHost, type HostClaim } from '../platform/local/liveRuns.ts';
import { renderSummaryMarkdown } from '../results/summary.ts';
import { join, resolve } from 'node:path';
import { RESULT_SCHEMA, type CellResult, type RunResult, type RunSession } from '../results/types.ts';
import { planCells } from '../scenario/plan.ts';
import type { Cell, Scenario } from '../scenario/types.ts';
import { runCellsInOrder } from './cells.ts';

export interface RunOptions {
  /** Parent directory of run directories (default `runs/`). */
  outRoot: string;
  /** What the cells run on (harness/platform/index.ts platformFor picks it from the scenario). */
  platform: Platform;
  /** Measure even while another run measures on this host (both runs' cells say so). */
  allowConcurrent?: boolean;
  /** `meshbench run --resume`: continue this run in its directory; its finished cells are kept. */
  resume?: { runDir: string; previous: RunResult };
}

export interface RunEvents {
  'run:start': [{ runId: string; runDir: string; cells: Cell[] }];
  'cell:start': [Cell];
  'cell:done': [CellResult];
  'cell:failed': [Cell, Error];
  /** The platform's progress while minutes pass (cluster creation, a cell's objects). */
  'platform:log': [string];
}

export class ScenarioRun extends EventEmitter<RunEvents> {
  readonly runId: string;
  readonly runDir: string;
  readonly done: Promise<RunResult>;
  private readonly abortController = new AbortController();
  /** One measurement at a time: refused here (HostError naming the other run) unless allowConcurrent. */
  private readonly hostClaim: HostClaim;

  constructor(
    readonly scenario: Scenario,
    private readonly options: RunOptions,
  ) {
    super();
    this.runId = options.resume?.previous.runId ?? newRunId();
    const runDir = options.resume ? resolve(options.resume.runDir) : join(resolve(options.outRoot), this.runId);
    // Local and kind cells load this host's CPUs; an existing cluster's run measures elsewhere.
    this.hostClaim = scenario.platform === 'kubernetes'
      ? unclaimedHost()
      : claimHost({ runId: this.runId, runDir, scenario: scenario.name, allowConcurrent: Boolean(options.allowConcurrent) });
    try {
      this.runDir = options.resume ? runDir : createRunDir(resolve(options.outRoot), this.runId);
    } catch (error) {
      this.hostClaim.release();
      throw error;
    }
    // Started on the next tick so callers can subscribe first.
    this.done = new Promise((r) => setImmediate(r)).then(() => this.execute());
  }

  /** Stops the run (SIGINT/SIGTERM): the current cell tears down, the platform too, finished cells are kept. */
  abort(): void {
    this.abortController.abort();
  }

  get aborted(): boolean {
    return this.abortController.signal.aborted;
  }

  private async execute(): Promise<RunResult> {
    const { platform } = this.options;
    const cells = planCells(this.scenario);
    const context: RunContext = {
      runId: this.runId,
      runDir: this.runDir,
      scenario: this.scenario,
      signal: this.abortController.signal,
      log: (line) => this.emit('platform:log', line),
    };
    const before = await platform.facts();
    const previous = this.options.resume?.previous;
    const session = { startedAt: new Date().toISOString(), pid: process.pid, cells: [] as string[] };
    // Resumed: the cells measured before are kept (failed ones run again), the rest run now.
    const kept = (previous?.cells ?? []).filter((cell) => cell.status !== 'failed' && cells.some((c) => c.id === cell.id));
    const toRun = cells.filter((cell) => !kept.some((k) => k.id === cell.id));
    const result: RunResult = {
      schema: RESULT_SCHEMA,
      meshbench: meshbenchVersion(),
      runId: this.runId,
      startedAt: previous?.startedAt ?? session.startedAt,
      status: 'complete',
      environment: await collectEnvironment(before.proxy, before.placement),
      scenario: this.scenario,
      cells: [...kept],
      sessions: [...earlierSessions(previous), session],
      analysis: { overhead: [] },
      notes: [],
    };
    if (previous) {
      result.notes.push(
        `resumed at ${session.startedAt}: ${kept.length} of ${cells.length} cells kept from before (each cell's startedAt says when it ran), ${toRun.length} run in this session`,
      );
    }
    for (const other of this.hostClaim.othersAtStart) {
      result.notes.push(`started while ${describeLiveRun(other)} was measuring on this host (--allow-concurrent): see each cell's notes`);
    }
    const recordFacts = (facts: PlatformFacts): void => {
      result.environment.proxy = facts.proxy;
      result.environment.placement = facts.placement;
      result.environment.tools = { ...result.environment.tools, ...facts.tools };
      for (const note of facts.notes) if (!result.notes.includes(note)) result.notes.push(note);
    };
    recordFacts(before);
    this.emit('run:start', { runId: this.runId, runDir: this.runDir, cells });
    // A run killed from here on is still a run directory (`report` reads it, `--resume` continues it).
    if (!previous) writeRunStart(this.runDir, result);
    try {
      const provisioned = await platform.provision(context).catch((error: Error) => {
        if (!this.aborted) {
          result.status = 'failed';
          result.notes.push(`platform set-up failed: ${error.message}`);
          context.log(`platform set-up failed: ${error.message}`);
        }
        return undefined;
      });
      if (provisioned) {
        recordFacts(provisioned.facts);
        try {
          await runCellsInOrder(toRun, (cell) => provisioned.runCell(cell), {
            runDir: this.runDir,
            result,
            events: this,
            aborted: () => this.aborted,
            hostClaim: this.hostClaim,
          });
        } finally {
          result.notes.push(...(await provisioned.teardown()));
        }
      }
    } finally {
      this.hostClaim.release();
      const failedCells = result.cells.filter((cell) => cell.status === 'failed');
      if (this.aborted) {
        result.status = 'interrupted';
        result.notes.push(`interrupted after ${result.cells.length} of ${cells.length} cells; finished cells are kept`);
      } else if (failedCells.length > 0) {
        result.status = 'failed';
        result.notes.push(`${failedCells.length} of ${cells.length} cells failed: ${failedCells.map((cell) => cell.id).join(', ')}`);
      }
      result.cells.sort((a, b) => a.index - b.index);
      session.cells = result.cells.filter((cell) => !kept.includes(cell)).map((cell) => cell.id);
      Object.assign(session, { finishedAt: new Date().toISOString(), status: result.status });
      result.finishedAt = new Date().toISOString();
      result.analysis = analyseRun(result.cells);
      writeResult(this.runDir, result);
      // summary.md first on its own, so a report that fails to render still leaves the tables.
      writeFileAtomic(join(this.runDir, SUMMARY_FILE), renderSummaryMarkdown(result));
      await writeRunReport(this.runDir, result); // summary.md, report.html, charts/*.svg
    }
    return result;
  }
}

/**
 * The sessions of a run being resumed, each with the cells it ran: a session that was killed
 * never wrote its own list, so it gets the finished cells no other session claims, and ends
 * as interrupted when its last cell did.
 */
function earlierSessions(previous: RunResult | undefined): RunSession[] {
  if (!previous) return [];
  const sessions: RunSession[] = structuredClone(previous.sessions ?? [{ startedAt: previous.startedAt, pid: 0, cells: [] }]);
  const claimed = new Set(sessions.flatMap((s) => s.cells));
  const last = sessions.at(-1)!;
  const unclaimed = previous.cells.filter((cell) => !claimed.has(cell.id));
  if (last.finishedAt === undefined || unclaimed.length > 0) {
    last.cells = [...last.cells, ...unclaimed.map((cell) => cell.id)];
    const ends = previous.cells.filter((cell) => last.cells.includes(cell.id)).map((cell) => cell.finishedAt).sort();
    last.finishedAt ??= ends.at(-1) ?? last.startedAt;
    last.status ??= 'interrupted';
  }
  return sessions;
}

export function runScenario(scenario: Scenario, options: RunOptions): ScenarioRun {
  return new ScenarioRun(scenario, options);
}
