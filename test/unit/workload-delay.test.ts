import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPreciseTimer, nowUs, type PreciseTimer } from '../../harness/workload/preciseDelay.ts';

describe('precise delay (worker + Atomics.wait)', () => {
  let timer: PreciseTimer;
  before(async () => {
    timer = await createPreciseTimer();
  });
  after(async () => {
    await timer.close();
  });

  it('calibrates a compensation and reports how it runs', () => {
    assert.equal(timer.mode, 'worker');
    assert.ok(timer.compensationUs >= 0 && timer.compensationUs < 2000, `compensation ${timer.compensationUs}`);
    assert.ok(Number(timer.details.wakerTid) > 0);
  });

  it('fires every timer, never early, in due order', async () => {
    const n = 300;
    // For each timer: the clock just before and just after schedule(); its own due time is
    // in [before + delay, after + delay] however long the host kept us off the CPU.
    const fired: { earliestDueUs: number; latestDueUs: number; firedUs: number }[] = [];
    await new Promise<void>((resolve) => {
      for (let i = 0; i < n; i++) {
        // Deadlines out of insertion order, 0.5–5.5 ms ahead.
        const delayUs = 500 + ((i * 7919) % 5000);
        const beforeUs = nowUs();
        const entry = { earliestDueUs: beforeUs + delayUs, latestDueUs: 0, firedUs: 0 };
        timer.schedule(delayUs, () => {
          entry.firedUs = nowUs();
          fired.push(entry);
          if (fired.length === n) resolve();
        });
        entry.latestDueUs = nowUs() + delayUs;
      }
    });
    assert.equal(fired.length, n);
    assert.equal(timer.pending, 0);
    for (const f of fired) assert.ok(f.firedUs >= f.earliestDueUs, `fired ${f.earliestDueUs - f.firedUs} µs early`);
    for (let i = 1; i < fired.length; i++) {
      // Out of order only if the earlier-fired one was certainly due later.
      assert.ok(fired[i - 1].earliestDueUs <= fired[i].latestDueUs, `fired out of due order at ${i}`);
    }
  });

  it('sequential delays land within tens of µs at the median (setTimeout: ~100s of µs)', async () => {
    const errors: number[] = [];
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((resolve) => {
        const dueUs = nowUs() + 2000;
        timer.schedule(2000, () => {
          errors.push(nowUs() - dueUs);
          resolve();
        });
      });
    }
    errors.sort((a, b) => a - b);
    const p50 = errors[100];
    // Loose on purpose: the host is shared; a broken waker shows as ≥ 1 ms (setTimeout).
    assert.ok(p50 < 150, `median error ${p50.toFixed(1)} µs`);
  });
});
