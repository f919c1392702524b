// The scenario keys of the services-per-node sweep: load.spread (even | hot, hotShare),
// idle (an idle window per cell), connections enough for every service that gets traffic,
// and scenarios/scaling.yaml itself.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { spreadWeights } from '../../harness/load/spread.ts';
import { loadScenarioFile, parseScenario } from '../../harness/scenario/load.ts';
import { estimateDurationMs, planCells } from '../../harness/scenario/plan.ts';

function problems(text: string): string[] {
  try {
    parseScenario(text, 'inline.yaml');
  } catch (error) {
    assert.ok(error instanceof InputError);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('accepted');
}

const scenario = (load: string, extra = '', services = '[1, 10]') =>
  `name: s\nservices: ${services}\nload: {rate: 100, duration: 1s, connections: 10${load}}\n${extra}`;

describe('load.spread', () => {
  test('even by default: nothing added to the load settings, no weights', () => {
    const s = parseScenario(scenario(''), 'x.yaml');
    assert.equal(s.load.spread, undefined);
    assert.equal(s.load.hotShare, undefined);
    assert.equal(spreadWeights(s.load, 10), undefined);
    assert.equal(parseScenario(scenario(', spread: even'), 'x.yaml').load.spread, undefined);
  });

  test('hot: service 1 gets hotShare (default 0.9), the others share the rest', () => {
    const s = parseScenario(scenario(', spread: hot'), 'x.yaml');
    assert.equal(s.load.spread, 'hot');
    assert.equal(s.load.hotShare, 0.9);
    const w = spreadWeights(s.load, 10)!;
    assert.equal(w[0], 0.9);
    assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.equal(spreadWeights(s.load, 1), undefined, 'one service: nothing to spread');
    assert.equal(parseScenario(scenario(', spread: hot, hotShare: 0.5'), 'x.yaml').load.hotShare, 0.5);
  });

  test('mistakes: unknown spread, hotShare out of (0, 1] or without hot', () => {
    assert.deepEqual(problems(scenario(', spread: lukewarm')), ['load.spread: unknown load spread "lukewarm" (expected one of even, hot)']);
    assert.deepEqual(problems(scenario(', spread: hot, hotShare: 0')), ['load.hotShare: must be a share of the traffic in (0, 1], e.g. 0.9, got 0']);
    assert.deepEqual(problems(scenario(', spread: hot, hotShare: 1.5')), ['load.hotShare: must be a share of the traffic in (0, 1], e.g. 0.9, got 1.5']);
    assert.deepEqual(problems(scenario(', hotShare: 0.8')), ['load.hotShare: only with spread: hot (the share of the hot service), got 0.8 with spread even']);
  });

  test('connections: one per service that gets traffic, checked before anything runs', () => {
    assert.deepEqual(problems(scenario('', '', '[1, 30]')), [
      'load.connections: must be at least one per service that gets traffic (30, from services 30), got 10',
    ]);
    // hotShare 1: the other services idle completely and need no connection.
    assert.equal(parseScenario(scenario(', spread: hot, hotShare: 1', '', '[1, 30]'), 'x.yaml').load.hotShare, 1);
    assert.deepEqual(problems(scenario(', spread: hot, hotShare: 0.99', '', '[30]')).length, 1);
  });
});

describe('idle', () => {
  test('a duration with a unit; 0s or absent: no idle window', () => {
    assert.equal(parseScenario(scenario('', 'idle: 10s\n'), 'x.yaml').idleMs, 10_000);
    assert.equal(parseScenario(scenario('', 'idle: 1500ms\n'), 'x.yaml').idleMs, 1500);
    assert.equal(parseScenario(scenario('', 'idle: 0s\n'), 'x.yaml').idleMs, undefined);
    assert.equal(parseScenario(scenario(''), 'x.yaml').idleMs, undefined);
    assert.deepEqual(problems(scenario('', 'idle: 10\n')), ['idle: must be a duration with a unit (us, µs, ms, s, m), got 10; add a unit, e.g. "10s" or "10ms"']);
    assert.deepEqual(problems(scenario('', 'idle: 11m\n')), ['idle: must be at most 10m, got "11m"']);
  });

  test('local platform only so far', () => {
    assert.deepEqual(problems(`name: k\nplatform: kind\nservices: [1]\nload: {rate: 1, duration: 1s}\nidle: 5s\n`), [
      'idle: the idle window runs on platform local only so far (kind and kubernetes cells start their load at once), got platform kind',
    ]);
  });

  test('an idle window is part of every cell, not a cell of its own: the plan is unchanged', () => {
    const withIdle = parseScenario(scenario('', 'idle: 10s\n'), 'x.yaml');
    const without = parseScenario(scenario(''), 'x.yaml');
    assert.deepEqual(planCells(withIdle), planCells(without));
    assert.equal(estimateDurationMs(withIdle) - estimateDurationMs(without), 10_000 * planCells(without).length);
  });
});

describe('scenarios/scaling.yaml', () => {
  test('1 → 100 services, all four meshes, an idle window, probes for memory and CPU', async () => {
    const s = await loadScenarioFile('scenarios/scaling.yaml');
    assert.equal(s.name, 'scaling');
    assert.deepEqual(s.meshes, ['baseline', 'sidecar', 'ebpf', 'ebpf-l4']);
    assert.equal(s.services[0], 1);
    assert.equal(Math.max(...s.services), 100);
    assert.ok(s.services.length >= 4, 'enough points for a fit');
    assert.ok((s.idleMs ?? 0) > 0);
    assert.ok(s.probes.includes('memory') && s.probes.includes('cpu'));
    assert.ok(s.load.connections >= 100);
  });
});
