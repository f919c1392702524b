import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  connectionsPerTarget,
  dueCount,
  firstIndexAtOrAfter,
  intendedSendMs,
  isMeasuredIndex,
  nextPollDelayMs,
  planOpenSchedule,
  targetOfRequest,
} from '../../harness/load/schedule.ts';

describe('open-model schedule', () => {
  it('spaces requests 1/rate apart from the start', () => {
    const s = planOpenSchedule(1000, 200, 1000, 5000);
    assert.equal(s.intervalMs, 5);
    assert.equal(intendedSendMs(s, 0), 1000);
    assert.equal(intendedSendMs(s, 1), 1005);
    assert.equal(intendedSendMs(s, 200), 2000);
  });

  it('counts warm-up and measured requests exactly', () => {
    const s = planOpenSchedule(0, 200, 1000, 5000);
    assert.equal(s.firstMeasured, 200); // 1 s of warm-up at 200/s: indices 0..199
    assert.equal(s.total, 1200); // 6 s at 200/s
    assert.equal(isMeasuredIndex(s, 199), false);
    assert.equal(isMeasuredIndex(s, 200), true);
    assert.equal(isMeasuredIndex(s, 1199), true);
    assert.equal(isMeasuredIndex(s, 1200), false);
  });

  it('counts exactly rate × seconds whatever the start time and rounding', () => {
    for (const start of [0, 12.25, 1234.567891, 987654.3210987]) {
      for (const rate of [3, 7, 200, 333, 1234.5, 99_999]) {
        for (const [warmupMs, durationMs] of [[0, 1000], [1000, 5000], [500, 2000]]) {
          const s = planOpenSchedule(start, rate, warmupMs, durationMs);
          const label = `start ${start} rate ${rate} ${warmupMs}+${durationMs}`;
          assert.equal(s.total, Math.max(0, Math.ceil((rate * (warmupMs + durationMs)) / 1000 - 1e-9)), label);
          assert.equal(s.firstMeasured, Math.max(0, Math.ceil((rate * warmupMs) / 1000 - 1e-9)), label);
        }
      }
    }
  });

  it('firstIndexAtOrAfter agrees with intendedSendMs at boundaries (1 ns tolerance)', () => {
    const s = planOpenSchedule(0, 3, 0, 10_000);
    const cases: [number, number][] = [[0, 0], [333.3333333333333, 1], [333.33333333333337, 1], [333.3334, 2], [1000, 3], [1000.0000001, 3], [1000.01, 4], [9999.9, 30]];
    for (const [t, expected] of cases) assert.equal(firstIndexAtOrAfter(s, t), expected, `t=${t}`);
  });

  it('dueCount: requests with intended time ≤ now, capped at the total', () => {
    const s = planOpenSchedule(100, 1000, 0, 10);
    assert.equal(dueCount(s, 99.999), 0);
    assert.equal(dueCount(s, 100), 1);
    assert.equal(dueCount(s, 100.9999), 1);
    assert.equal(dueCount(s, 101), 2);
    assert.equal(dueCount(s, 105.5), 6);
    assert.equal(dueCount(s, 1e9), 10);
  });

  it('spreads requests and connections round-robin over targets', () => {
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => targetOfRequest(i, 3)), [0, 1, 2, 0, 1]);
    assert.deepEqual(connectionsPerTarget(64, 1), [64]);
    assert.deepEqual(connectionsPerTarget(10, 4), [3, 3, 2, 2]);
    assert.deepEqual(connectionsPerTarget(3, 3), [1, 1, 1]);
  });

  it('polls with a timer only when the next send is far enough for its 1 ms slop', () => {
    assert.equal(nextPollDelayMs(110, 100), 8);
    assert.equal(nextPollDelayMs(101.9, 100), 'immediate');
    assert.equal(nextPollDelayMs(99, 100), 'immediate');
  });

  it('rejects a non-positive rate', () => {
    assert.throws(() => planOpenSchedule(0, 0, 0, 1000), RangeError);
  });
});
