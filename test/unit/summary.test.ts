// The run summary (summary.md and the terminal table): snapshots of two hand-made runs,
// plus the number formatting rules on their own.
// Snapshots live in test/unit/__snapshots__/ and are compared exactly; after an intended
// change, regenerate them with UPDATE_SNAPSHOTS=1 and review the diff.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { computeOverhead } from '../../harness/analysis/overhead.ts';
import { formatRps, formatUs, renderSummaryMarkdown, renderTerminalTable } from '../../harness/results/summary.ts';
import { RESULT_SCHEMA, type CellResult, type RunResult } from '../../harness/results/types.ts';
import { planCells } from '../../harness/scenario/plan.ts';
import type { Cell, Scenario } from '../../harness/scenario/types.ts';
import { matchSnapshot } from '../snapshot.ts';


interface Figures {
  p50: number;
  p99: number;
  rps: number;
  saturated?: boolean;
  non2xx?: number;
  socketErrors?: number;
  notes?: string[];
}

function cellResult(cell: Cell, scenario: Scenario, figures: Figures): CellResult {
  const measuredMs = scenario.load.durationMs;
  return {
    ...cell,
    startedAt: new Date(Date.UTC(2026, 0, 15, 10, 0, cell.index * 20)).toISOString(),
    finishedAt: new Date(Date.UTC(2026, 0, 15, 10, 0, cell.index * 20 + 15)).toISOString(),
    load: {
      driver: scenario.load.driver,
      model: scenario.load.model,
      ...(scenario.load.rate === undefined ? {} : { requestedRps: scenario.load.rate }),
      achievedRps: figures.rps,
      requests: Math.round((figures.rps * measuredMs) / 1000) - (figures.non2xx ?? 0),
      non2xx: figures.non2xx ?? 0,
      socketErrors: figures.socketErrors ?? 0,
      connections: scenario.load.connections,
      measuredMs,
      saturated: figures.saturated ?? false,
      latencyUs: {
        min: Math.round(figures.p50 * 0.6),
        p50: figures.p50,
        p90: Math.round(figures.p50 + 0.6 * (figures.p99 - figures.p50)),
        p99: figures.p99,
        p999: Math.round(figures.p99 * 1.8),
        max: Math.round(figures.p99 * 4.2),
        mean: Math.round(figures.p50 * 1.1),
        count: Math.round((figures.rps * measuredMs) / 1000),
      },
    },
    path: {},
    notes: figures.notes ?? [],
  };
}

function runResult(scenario: Scenario, cells: CellResult[], extra: Partial<RunResult> = {}): RunResult {
  return {
    schema: RESULT_SCHEMA,
    meshbench: '0.1.0',
    runId: 'k3x9q',
    startedAt: '2026-01-15T10:00:00.000Z',
    finishedAt: '2026-01-15T10:03:00.000Z',
    status: 'complete',
    environment: {
      hostname: 'bench-1',
      kernel: '6.1.0-28-amd64',
      cpuModel: 'Intel(R) Xeon(R) CPU @ 2.20GHz',
      cores: 2,
      governor: 'performance',
      node: 'v20.19.5',
      proxy: { name: 'HAProxy', version: '2.6.12' },
      tools: { autocannon: '8.0.0' },
      placement: { driverCpus: '0', podCpus: '1' },
    },
    scenario,
    cells,
    analysis: { overhead: computeOverhead(cells) },
    notes: [],
    ...extra,
  };
}

/** quick.yaml as run: 4 meshes × 2 repeats, sidecar saturated in repeat 2, some errors. */
function quickRun(): RunResult {
  const scenario: Scenario = {
    name: 'quick',
    platform: 'local',
    meshes: ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'],
    protocols: ['http1'],
    probes: ['dwell', 'runq', 'cpu', 'connect', 'memory'],
    services: [1],
    workload: { responseBytes: 1024, delayUs: 0 },
    load: { model: 'open', rate: 300, connections: 4, durationMs: 10_000, warmupMs: 2_000, driver: 'autocannon' },
    repeats: 2,
  };
  const figures: Record<string, Figures> = {
    'baseline-http1-s1-r1': { p50: 182, p99: 412, rps: 299.8 },
    'baseline-http1-s1-r2': { p50: 191, p99: 455, rps: 300.1 },
    'sidecar-http1-s1-r1': { p50: 604, p99: 1480, rps: 299.5 },
    'sidecar-http1-s1-r2': { p50: 1320, p99: 9870, rps: 271.2, saturated: true, socketErrors: 3 },
    'ebpf-http1-s1-r1': { p50: 415, p99: 998, rps: 299.9 },
    'ebpf-http1-s1-r2': { p50: 431, p99: 1042, rps: 299.7, non2xx: 2, notes: ['proxy restarted once during warm-up'] },
    'ebpf-l4-http1-s1-r1': { p50: 179, p99: 401, rps: 300.0 },
    'ebpf-l4-http1-s1-r2': { p50: 172, p99: 2_950, rps: 299.9 }, // a p99 spike: the spread spans µs and ms
  };
  const cells = planCells(scenario).map((cell) => cellResult(cell, scenario, figures[cell.id]!));
  return runResult(scenario, cells, { notes: ['probe overhead: dwell probe active on all components'] });
}

/** An interrupted closed-model run with one repeat over two services values. */
function interruptedCapacityRun(): RunResult {
  const scenario: Scenario = {
    name: 'capacity',
    platform: 'local',
    meshes: ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'],
    protocols: ['http1'],
    probes: ['dwell', 'runq', 'cpu', 'connect', 'memory'],
    services: [1, 10],
    workload: { responseBytes: 1024, delayUs: 2_000 },
    load: { model: 'closed', connections: 32, durationMs: 20_000, warmupMs: 5_000, driver: 'wrk' },
    repeats: 1,
  };
  const figures: Record<string, Figures> = {
    'baseline-http1-s1-r1': { p50: 2_310, p99: 3_020, rps: 13_480 },
    'sidecar-http1-s1-r1': { p50: 4_870, p99: 9_950, rps: 6_210.4 },
    'ebpf-http1-s1-r1': { p50: 3_440, p99: 6_002, rps: 9_012 },
    'ebpf-l4-http1-s1-r1': { p50: 2_290, p99: 2_999.6, rps: 13_702 },
    'baseline-http1-s10-r1': { p50: 2_404, p99: 3_511, rps: 12_911 },
    'sidecar-http1-s10-r1': { p50: 6_120, p99: 14_230, rps: 4_980 },
  };
  const cells = planCells(scenario)
    .filter((cell) => figures[cell.id])
    .map((cell) => cellResult(cell, scenario, figures[cell.id]!));
  return runResult(scenario, cells, {
    status: 'interrupted',
    finishedAt: undefined,
    notes: ['interrupted by SIGINT after 6 cells'],
    environment: { ...runResult(scenario, []).environment, cores: 1, governor: undefined, placement: { driverCpus: '', podCpus: '' } },
  });
}

describe('renderSummaryMarkdown', () => {
  test('quick run (snapshot)', () => {
    matchSnapshot('summary-quick.md', renderSummaryMarkdown(quickRun()));
  });

  test('interrupted capacity run (snapshot)', () => {
    matchSnapshot('summary-capacity-interrupted.md', renderSummaryMarkdown(interruptedCapacityRun()));
  });

  test('saturated cells are marked, spreads shown, baseline has no Δ', () => {
    const markdown = renderSummaryMarkdown(quickRun());
    const sidecarRow = markdown.split('\n').find((line) => line.startsWith('| sidecar |'));
    assert.ok(sidecarRow?.includes('⚠ saturated (1 of 2)'), sidecarRow);
    const baselineRow = markdown.split('\n').find((line) => line.startsWith('| baseline |'));
    assert.ok(baselineRow?.endsWith('| — | — |'), baselineRow);
    assert.ok(baselineRow?.includes('| 187 µs (182–191) |'), baselineRow);
  });

  test('pure: the same result renders the same text and is not modified', () => {
    const result = quickRun();
    const before = JSON.stringify(result);
    assert.equal(renderSummaryMarkdown(result), renderSummaryMarkdown(result));
    assert.equal(JSON.stringify(result), before);
  });

  test('Δ columns fall back to the cells when result.analysis is empty', () => {
    const result = quickRun();
    const withoutAnalysis = { ...result, analysis: { overhead: [] } };
    assert.equal(renderSummaryMarkdown(withoutAnalysis), renderSummaryMarkdown(result));
  });
});

describe('renderTerminalTable', () => {
  test('quick run (snapshot)', () => {
    matchSnapshot('summary-quick.txt', renderTerminalTable(quickRun()));
  });

  test('interrupted capacity run (snapshot)', () => {
    matchSnapshot('summary-capacity-interrupted.txt', renderTerminalTable(interruptedCapacityRun()));
  });

  test('no markdown; columns aligned', () => {
    const text = renderTerminalTable(quickRun());
    assert.ok(!text.includes('|'));
    assert.ok(!text.includes('**'));
    const lines = text.split('\n');
    const headerIndex = lines.findIndex((line) => line.startsWith('mesh '));
    const rule = lines[headerIndex + 1]!;
    const columnStarts = [...rule.matchAll(/-+/g)].map((m) => m.index);
    // Every right-aligned column ends at the same place in every row.
    const columnEnds = [...rule.matchAll(/-+/g)].map((m) => m.index + m[0].length);
    for (const line of lines.slice(headerIndex, headerIndex + 6)) {
      if (line === rule) continue;
      for (const end of columnEnds.slice(1, -1)) assert.notEqual([...line][end - 1], ' ', `column ending at ${end}: ${line}`);
    }
    assert.equal(columnStarts.length, 10);
  });
});

describe('number formatting', () => {
  const latencies: Array<[number, string]> = [
    [0, '0.0 µs'],
    [8.46, '8.5 µs'],
    [9.96, '10 µs'],
    [812.4, '812 µs'],
    [999.4, '999 µs'],
    [999.6, '1.00 ms'],
    [1234, '1.23 ms'],
    [12_345, '12.3 ms'],
    [123_456, '123 ms'],
    [999_700, '1.00 s'],
    [1_234_567, '1.23 s'],
    [-150, '-150 µs'],
  ];
  for (const [us, text] of latencies) {
    test(`${us} µs → ${text}`, () => assert.equal(formatUs(us), text));
  }
  test('rates: one decimal below 100 req/s, whole above', () => {
    assert.equal(formatRps(12.34), '12.3');
    assert.equal(formatRps(299.8), '300');
    assert.equal(formatRps(13_480), '13480');
  });
});
