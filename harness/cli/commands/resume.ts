// `meshbench run --resume RUN_DIR`: what continuing an interrupted or killed run needs. The
// run directory must hold a run (result.json, or cells.jsonl with its header), its owner must
// be gone, and whatever the killed run left on the host is removed first (its resources carry
// its run id, which the resumed session reuses).
import { join } from 'node:path';
import { HostError, InputError } from '../../errors.ts';
import { readRunResult } from '../../analysis/resultFile.ts';
import { clean, findLeftovers } from '../../platform/local/clean.ts';
import { liveRuns } from '../../platform/local/liveRuns.ts';
import { isSameProcess, readState } from '../../platform/local/state.ts';
import { STATE_FILE } from '../../results/files.ts';
import type { RunResult } from '../../results/types.ts';
import { planCells } from '../../scenario/plan.ts';
import type { Scenario } from '../../scenario/types.ts';

export interface ResumePlan {
  runDir: string;
  scenario: Scenario;
  previous: RunResult;
  /** Cells still to run (missing or failed before). */
  remaining: number;
}

export async function prepareResume(runDir: string): Promise<ResumePlan> {
  const previous = readRunResult(runDir); // InputError (exit 2) when it is no run directory
  const live = liveRuns().find((claim) => claim.runId === previous.runId);
  const state = readState(join(runDir, STATE_FILE));
  if (live || (state && isSameProcess(state.ownerPid, state.ownerStartTime) && state.ownerPid !== process.pid)) {
    throw new HostError(`run ${previous.runId} in ${runDir} is still running (pid ${live?.ownerPid ?? state?.ownerPid}): stop it first, or let it finish`);
  }
  const measured = new Set(previous.cells.filter((cell) => cell.status !== 'failed').map((cell) => cell.id));
  const remaining = planCells(previous.scenario).filter((cell) => !measured.has(cell.id)).length;
  if (remaining === 0) {
    throw new InputError(runDir, [{ path: '--resume', message: `nothing to resume: all ${measured.size} cells of run ${previous.runId} are measured` }]);
  }
  if (previous.scenario.platform === 'local' && (await findLeftovers(previous.runId)).length > 0) {
    const report = await clean({ dryRun: false, runId: previous.runId });
    if (report.errors.length > 0) {
      throw new HostError(`cannot remove what run ${previous.runId} left on this host: ${report.errors.join('; ')}`);
    }
  }
  return { runDir, scenario: previous.scenario, previous, remaining };
}
