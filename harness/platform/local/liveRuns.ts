// One measurement at a time. Two runs on one host share its CPUs (both pin the driver to
// CPU 0 and the pods to the others) and each reports the other's load as its own: measured
// here, p50s up to 7× too high with nothing in the notes. So a run claims the host: it
// leaves a claim in /run/meshbench (`<run>.live`, with its owner's pid and start time, so a
// dead owner's claim is recognised as stale), then looks for other live claims, and refuses
// when it finds one, unless asked to share (`--allow-concurrent`).
//
// Which runs shared the host, and when, is kept in a journal (`/run/meshbench/runs.journal`,
// one JSON line per start and end of a run), so each cell of both runs can say so in its
// notes, also when the other run came and went inside the cell. /run is a tmpfs: the journal
// starts empty at boot; entries of runs that ended over a day ago are pruned.
import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostError } from '../../errors.ts';
import { LIVE_RUNS_DIR } from './names.ts';
import { isSameProcess, processStartTime } from './state.ts';

export const LIVE_SUFFIX = '.live';
export const JOURNAL_FILE = 'runs.journal';
const JOURNAL_KEEP_MS = 24 * 3600_000;

export interface LiveRunClaim {
  runId: string;
  ownerPid: number;
  ownerStartTime: number;
  /** Epoch ms when the run claimed the host. */
  startedAtMs: number;
  runDir: string;
  scenario: string;
  allowConcurrent: boolean;
}

interface JournalEntry {
  runId: string;
  event: 'start' | 'end';
  atMs: number;
  ownerPid: number;
  ownerStartTime: number;
  runDir?: string;
  scenario?: string;
}

/** A run the host was shared with during a window, as a cell's note says it. */
export interface SharedRun {
  runId: string;
  runDir?: string;
  fromMs: number;
  /** Undefined: still live. */
  toMs?: number;
}

export interface HostClaim {
  /** Other runs live when this one claimed the host (only with allowConcurrent). */
  readonly othersAtStart: readonly LiveRunClaim[];
  /** Other runs that were live at some moment of [fromMs, toMs]. */
  sharedDuring(fromMs: number, toMs: number): SharedRun[];
  /** The note a cell gets for the runs it shared the host with; undefined when none. */
  noteFor(fromMs: number, toMs: number): string | undefined;
  /** Gives the host back (idempotent): the claim file goes, the journal records the end. */
  release(): void;
}

function claimPath(runId: string, dir = LIVE_RUNS_DIR): string {
  return join(dir, `${runId}${LIVE_SUFFIX}`);
}

function readClaim(path: string): LiveRunClaim | undefined {
  try {
    const claim = JSON.parse(readFileSync(path, 'utf8')) as LiveRunClaim;
    return typeof claim.runId === 'string' && typeof claim.ownerPid === 'number' ? claim : undefined;
  } catch {
    return undefined;
  }
}

/** Claims on this host whose owner is alive (stale ones, of killed runs, are skipped). */
export function liveRuns(dir = LIVE_RUNS_DIR): LiveRunClaim[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const live: LiveRunClaim[] = [];
  for (const entry of entries) {
    if (!entry.endsWith(LIVE_SUFFIX)) continue;
    const claim = readClaim(join(dir, entry));
    if (claim && isSameProcess(claim.ownerPid, claim.ownerStartTime)) live.push(claim);
  }
  return live.sort((a, b) => a.startedAtMs - b.startedAtMs);
}

/** Claim files whose owner is gone (a killed run's): what `clean` removes. */
export function staleClaims(dir = LIVE_RUNS_DIR): Array<{ runId: string; path: string }> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const stale: Array<{ runId: string; path: string }> = [];
  for (const entry of entries) {
    if (!entry.endsWith(LIVE_SUFFIX)) continue;
    const path = join(dir, entry);
    const claim = readClaim(path);
    if (!claim || !isSameProcess(claim.ownerPid, claim.ownerStartTime)) stale.push({ runId: entry.slice(0, -LIVE_SUFFIX.length), path });
  }
  return stale;
}

function readJournal(dir: string): JournalEntry[] {
  let text: string;
  try {
    text = readFileSync(join(dir, JOURNAL_FILE), 'utf8');
  } catch {
    return [];
  }
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      /* a cut line (host crash): skipped */
    }
  }
  return entries;
}

function appendJournal(dir: string, entry: JournalEntry): void {
  try {
    appendFileSync(join(dir, JOURNAL_FILE), `${JSON.stringify(entry)}\n`);
  } catch {
    /* /run full: the claim files still refuse a second run; only the notes lose detail */
  }
}

/** Drops entries of runs that ended long ago, so the journal stays small. */
function pruneJournal(dir: string, nowMs: number): void {
  const entries = readJournal(dir);
  const endedLongAgo = new Set(entries.filter((e) => e.event === 'end' && nowMs - e.atMs > JOURNAL_KEEP_MS).map((e) => e.runId));
  if (endedLongAgo.size === 0) return;
  const kept = entries.filter((e) => !endedLongAgo.has(e.runId));
  try {
    const path = join(dir, JOURNAL_FILE);
    writeFileSync(`${path}.tmp`, kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
    // rename is atomic; a concurrent append in between is lost, which only costs a note.
    renameSync(`${path}.tmp`, path);
  } catch {
    /* pruning is best effort */
  }
}

/** When a run without an end in the journal stopped: now if its owner lives, else its claim's last change. */
function endOf(entries: JournalEntry[], start: JournalEntry, dir: string): number | undefined {
  const end = entries.find((e) => e.runId === start.runId && e.event === 'end' && e.atMs >= start.atMs);
  if (end) return end.atMs;
  if (isSameProcess(start.ownerPid, start.ownerStartTime)) return undefined;
  try {
    return statSync(claimPath(start.runId, dir)).mtimeMs;
  } catch {
    return start.atMs; // killed and cleaned: no later trace of it
  }
}

export function describeLiveRun(claim: LiveRunClaim): string {
  const since = new Date(claim.startedAtMs).toISOString();
  return `run ${claim.runId} (scenario ${claim.scenario}, pid ${claim.ownerPid}, since ${since}, ${claim.runDir})`;
}

/**
 * Claims the host for a run. Refuses (HostError, exit 1, naming the other run) when another
 * live run holds it, unless `allowConcurrent`. The claim is written before the others are
 * looked for, so of two runs starting at the same moment at least one sees the other.
 */
export function claimHost(options: { runId: string; runDir: string; scenario: string; allowConcurrent: boolean; dir?: string }): HostClaim {
  const dir = options.dir ?? LIVE_RUNS_DIR;
  mkdirSync(dir, { recursive: true });
  const nowMs = Date.now();
  pruneJournal(dir, nowMs);
  const claim: LiveRunClaim = {
    runId: options.runId,
    ownerPid: process.pid,
    ownerStartTime: processStartTime(process.pid) ?? 0,
    startedAtMs: nowMs,
    runDir: options.runDir,
    scenario: options.scenario,
    allowConcurrent: options.allowConcurrent,
  };
  writeFileSync(claimPath(options.runId, dir), JSON.stringify(claim));
  const others = liveRuns(dir).filter((c) => c.runId !== options.runId);
  if (others.length > 0 && !options.allowConcurrent) {
    rmSync(claimPath(options.runId, dir), { force: true });
    throw new HostError(
      `another meshbench run is measuring on this host: ${others.map(describeLiveRun).join('; ')}. ` +
        'Two runs share the CPUs and each reports the other\'s load as its own; wait for it to end, or pass --allow-concurrent ' +
        '(every cell of both runs then says so in its notes)',
    );
  }
  appendJournal(dir, { runId: options.runId, event: 'start', atMs: nowMs, ownerPid: claim.ownerPid, ownerStartTime: claim.ownerStartTime, runDir: options.runDir, scenario: options.scenario });
  let released = false;
  const sharedDuring = (fromMs: number, toMs: number): SharedRun[] => {
    const entries = readJournal(dir);
    const shared = new Map<string, SharedRun>();
    for (const start of entries) {
      if (start.event !== 'start' || start.runId === options.runId) continue;
      const end = endOf(entries, start, dir);
      if (start.atMs <= toMs && (end === undefined || end >= fromMs)) {
        shared.set(start.runId, { runId: start.runId, runDir: start.runDir, fromMs: start.atMs, ...(end === undefined ? {} : { toMs: end }) });
      }
    }
    // A live claim the journal lacks (its journal write failed) still counts.
    for (const other of liveRuns(dir)) {
      if (other.runId !== options.runId && !shared.has(other.runId) && other.startedAtMs <= toMs) {
        shared.set(other.runId, { runId: other.runId, runDir: other.runDir, fromMs: other.startedAtMs });
      }
    }
    return [...shared.values()];
  };
  return {
    othersAtStart: others,
    sharedDuring,
    noteFor(fromMs, toMs) {
      const shared = sharedDuring(fromMs, toMs);
      if (shared.length === 0) return undefined;
      const which = shared.map((s) => `run ${s.runId}${s.runDir ? ` (${s.runDir})` : ''}`).join(', ');
      return `shared the host with ${which} during this cell (--allow-concurrent): both runs' load ran on the same CPUs, so these figures include the other run's work and are not comparable with a run alone`;
    },
    release() {
      if (released) return;
      released = true;
      appendJournal(dir, { runId: options.runId, event: 'end', atMs: Date.now(), ownerPid: claim.ownerPid, ownerStartTime: claim.ownerStartTime });
      rmSync(claimPath(options.runId, dir), { force: true });
    },
  };
}

/** The claim of a run that measures elsewhere (an existing cluster): it holds nothing here. */
export function unclaimedHost(): HostClaim {
  return { othersAtStart: [], sharedDuring: () => [], noteFor: () => undefined, release: () => {} };
}
