// Where a request's latency goes, checked against an independent source: for every mesh,
// the parts the probes time along the path (residences in each component, hops between
// them) sum to the load driver's own latency (see Tolerance for how closely), and the probes
// saw the requests the driver counted. The sidecar's extra hops show where the baseline has
// none. The probes time every message here (MESHBENCH_PROBES_SAMPLE_EVERY=1): with the
// default sampling the parts are a 1-in-10 sample while the driver counts all, so a mean
// would carry sampling error on top of what is tested.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CellDecomposition } from '../../harness/analysis/decomposition.ts';
import type { RunResult } from '../../harness/results/types.ts';
import { meshbench } from '../cli.ts';
import { assertNothingLeft, requireRoot } from './helpers.ts';

const MESHES = ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'] as const;

/** The hops each mesh's path crosses, request direction (the response comes back the same way). */
const REQUEST_HOPS: Record<(typeof MESHES)[number], string[]> = {
  baseline: ['client-app → server-app'],
  'ebpf-l4': ['client-app → server-app'],
  ebpf: ['client-app → node-proxy', 'node-proxy → server-app'],
  sidecar: ['client-app → client-sidecar', 'client-sidecar → server-sidecar', 'server-sidecar → server-app'],
};

function scenario(load: string): string {
  return `
name: system-decomposition
meshes: [${MESHES.join(', ')}]
services: [1]
workload: { responseBytes: 1024, delay: 0ms }
load: ${load}
repeats: 1
`;
}

const dir = mkdtempSync(join(tmpdir(), 'meshbench-decomposition-'));

async function runCells(name: string, load: string): Promise<RunResult> {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, scenario(load));
  const out = join(dir, name);
  const exit = await meshbench(['run', path, '--out', out, '--json'], { env: { ...process.env, MESHBENCH_PROBES_SAMPLE_EVERY: '1' }, timeoutMs: 240_000 });
  assert.equal(exit.code, 0, exit.stderr);
  const [runId] = readdirSync(out);
  return JSON.parse(readFileSync(join(out, runId!, 'result.json'), 'utf8')) as RunResult;
}

function describeParts(d: CellDecomposition): string {
  return [
    ...d.parts.map((p) => `  ${p.kind} ${p.label} (${p.direction}): mean ${p.meanUs} µs, p50 ${p.p50Us} µs`),
    `  sum: mean ${d.sum.meanUs} µs, p50 ${d.sum.p50Us} µs; driver: mean ${d.driver.meanUs} µs, p50 ${d.driver.p50Us} µs`,
  ].join('\n');
}

/**
 * How far the sums may lie from the driver's figures: 10 % at one connection, 20 % under
 * load, the goal of issue 15, for the mean and the p50. The mean adds exactly (a request's
 * latency is the sum of its parts, so their means sum to its mean). Medians of separate parts
 * do not (their sum lies 4–14 % below the median request at one connection): the p50 figures
 * are each part's mean over the whole requests around the median round trip, which the probes
 * follow when a request is alone in the cell — at one connection every one of them.
 */
interface Tolerance {
  mean: number;
  p50: number;
  /** Every request followed whole (one connection: nothing shares the path). */
  wholeRequests?: boolean;
}

/**
 * The structure of every cell's decomposition (asserted), and how far each sum lies from the
 * driver's figure (returned: the sums move with the host's noise, so the caller may try again).
 */
function checkCells(result: RunResult, tolerance: Tolerance): string[] {
  assert.equal(result.status, 'complete');
  const misses: string[] = [];
  for (const mesh of MESHES) {
    const cell = result.cells.find((c) => c.mesh === mesh);
    assert.ok(cell, `a ${mesh} cell`);
    const d = cell.decomposition;
    assert.ok(d, `${cell.id} has a decomposition: ${cell.notes?.join('; ')}`);
    const parts = describeParts(d);
    process.stderr.write(`# ${cell.id} (${result.scenario.load.connections} connection(s)):\n${parts.replace(/^/gm, '# ')}\n`);
    // The probes saw the requests the driver counted (every message timed).
    assert.ok(Math.abs(d.probeRequests - d.driverRequests) <= Math.max(2, 0.01 * d.driverRequests), `${cell.id}: probes saw ${d.probeRequests} requests, the driver counted ${d.driverRequests}`);
    assert.equal(d.sampleEvery ?? 1, 1, `${cell.id}: every message timed`);
    // The path has the mesh's hops, both ways, and nothing the model does not follow.
    const hops = d.parts.filter((p) => p.kind === 'hop');
    const reversed = (label: string): string => label.split(' → ').reverse().join(' → ');
    assert.deepEqual(hops.filter((p) => p.direction === 'request').map((p) => p.label), REQUEST_HOPS[mesh], `${cell.id} request hops`);
    assert.deepEqual(hops.filter((p) => p.direction === 'response').map((p) => p.label), [...REQUEST_HOPS[mesh]].reverse().map(reversed), `${cell.id} response hops`);
    for (const hop of hops) assert.ok(hop.samples > 0 && hop.transit!.meanUs > 0, `${cell.id} ${hop.label}: measured`);
    assert.deepEqual(d.notes.filter((n) => /outside the path model|no .* hop/.test(n)), [], `${cell.id} notes`);
    if (tolerance.wholeRequests) {
      assert.equal(d.p50?.from, 'median requests', `${cell.id}: p50s from whole requests (${JSON.stringify(d.p50)})`);
      const followed = d.p50.from === 'median requests' ? d.p50.requests : 0;
      assert.ok(Math.abs(followed - d.driverRequests) <= Math.max(2, 0.01 * d.driverRequests), `${cell.id}: ${followed} requests followed whole, the driver counted ${d.driverRequests}`);
    }
    for (const [stat, bound] of [['meanUs', tolerance.mean], ['p50Us', tolerance.p50]] as const) {
      const off = Math.abs(d.sum[stat] - d.driver[stat]) / d.driver[stat];
      if (off > bound) misses.push(`${cell.id}: the parts' ${stat} sum ${d.sum[stat]} µs vs the driver's ${d.driver[stat]} µs: ${(off * 100).toFixed(1)} % apart (≤ ${bound * 100} %)`);
    }
  }
  return misses;
}

/**
 * Runs the four meshes at `load` until every sum is within `tolerance`: at most 3 attempts,
 * each one's misses logged (as the known-answer tests do).
 */
async function assertSums(name: string, load: string, tolerance: Tolerance): Promise<RunResult> {
  const attempts: string[][] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const result = await runCells(`${name}-${attempt}`, load);
    const misses = checkCells(result, tolerance);
    process.stderr.write(`# ${name} attempt ${attempt}: ${misses.length === 0 ? 'every sum within tolerance' : misses.join('; ')}\n`);
    if (misses.length === 0) return result;
    attempts.push(misses);
  }
  assert.fail(`3 attempts, each with a sum out of tolerance:\n${attempts.map((m, i) => `attempt ${i + 1}: ${m.join('; ')}`).join('\n')}`);
}

describe('where the latency goes: the parts sum to the driver’s latency', () => {
  before(requireRoot);
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await assertNothingLeft();
  });

  test('one connection: every mesh’s mean and p50 within 10 %, every request followed whole', async () => {
    await assertSums('one', '{ model: open, rate: 200, connections: 1, duration: 4s, warmup: 1s }', { mean: 0.1, p50: 0.1, wholeRequests: true });
  });

  test('the quick scenario’s load (300 req/s, 4 connections): every mesh within 20 %; the sidecar’s extra hops in its Δ', async () => {
    const result = await assertSums('quick', '{ model: open, rate: 300, connections: 4, duration: 4s, warmup: 1s }', { mean: 0.2, p50: 0.2 });
    const sidecar = result.analysis.decomposition?.find((m) => m.mesh === 'sidecar');
    assert.ok(sidecar?.delta, 'the sidecar has a Δ vs the baseline');
    assert.equal(sidecar.delta.hops, 4, 'the sidecar crosses 4 kernel hops the baseline does not');
    assert.match(sidecar.delta.words, /^sidecar [+−]\d+ µs \(mean\) = .* \(4 extra kernel hops\)/);
    assert.equal(result.analysis.decomposition?.find((m) => m.mesh === 'baseline')?.delta, undefined);
  });
});
