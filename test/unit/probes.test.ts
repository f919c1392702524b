// The probes' pure parts: the histogram layout shared with bpf/probes.h, percentiles,
// and turning a loader snapshot into figures.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  HIST_MAX_LOG2, HIST_SLOTS, HIST_SUB, HIST_SUB_BITS, latencyFigures, mergeHistograms, percentileUs, slotBoundsUs, slotOfUs,
} from '../../harness/probes/histogram.ts';
import { parseLoaderLine, toProbeFigures, type SnapshotLine } from '../../harness/probes/protocol.ts';

describe('probe histogram layout', () => {
  it('uses the constants of bpf/probes.h', () => {
    const header = readFileSync(new URL('../../bpf/probes.h', import.meta.url), 'utf8');
    const constant = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)`).exec(header)?.[1]);
    assert.equal(constant('HIST_SUB_BITS'), HIST_SUB_BITS);
    assert.equal(constant('HIST_MAX_LOG2'), HIST_MAX_LOG2);
    assert.equal(HIST_SLOTS, 400);
  });

  it('puts every whole µs into the slot whose bounds hold it', () => {
    const probes = [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 2047, 2048, 2100, 2175, 2176, 4095, 4096, 1e6, 2 ** 28 - 1];
    for (let e = 4; e <= HIST_MAX_LOG2; e++) probes.push(2 ** e - 1, 2 ** e, 2 ** e + 1);
    for (const us of probes) {
      const slot = slotOfUs(us);
      const { lowUs, highUs } = slotBoundsUs(slot);
      assert.ok(lowUs <= us && us < highUs, `${us} µs in slot ${slot} = [${lowUs}, ${highUs})`);
    }
  });

  it('has contiguous slots from 0 to 2^(max+1) µs, each at most 1/16 of its value wide', () => {
    let expectedLow = 0;
    for (let slot = 0; slot < HIST_SLOTS; slot++) {
      const { lowUs, highUs } = slotBoundsUs(slot);
      assert.equal(lowUs, expectedLow, `slot ${slot}`);
      if (lowUs >= HIST_SUB) assert.ok((highUs - lowUs) / lowUs <= 1 / HIST_SUB + 1e-12);
      expectedLow = highUs;
    }
    assert.equal(expectedLow, 2 ** (HIST_MAX_LOG2 + 1));
    assert.equal(slotOfUs(2 ** 40), HIST_SLOTS - 1);
  });
});

describe('percentiles from a histogram', () => {
  it('interpolates linearly inside the slot', () => {
    const slot = slotOfUs(2100); // [2048, 2176)
    assert.deepEqual(slotBoundsUs(slot), { lowUs: 2048, highUs: 2176 });
    assert.equal(percentileUs([[slot, 1]], 0.5), 2112);
    assert.equal(percentileUs([[slot, 4]], 0.25), 2080);
    assert.equal(percentileUs([[slot, 4]], 1), 2176);
  });

  it('walks the slots in order, whatever order they come in', () => {
    const slots: Array<[number, number]> = [
      [slotOfUs(5000), 10],
      [slotOfUs(10), 90],
    ];
    assert.equal(percentileUs(slots, 0.5), 10 + 50 / 90);
    const p99 = percentileUs(slots, 0.99);
    const { lowUs, highUs } = slotBoundsUs(slotOfUs(5000));
    assert.ok(p99 >= lowUs && p99 <= highUs);
  });

  it('gives 0 for an empty histogram, and figures with a mean', () => {
    assert.equal(percentileUs([], 0.5), 0);
    const f = latencyFigures([[slotOfUs(100), 2]], 2 * 100_400);
    assert.equal(f.count, 2);
    assert.equal(f.meanUs, 100.4);
    assert.ok(f.p50Us >= 100 && f.p50Us < 104);
  });

  it('merges histograms slot by slot', () => {
    assert.deepEqual(mergeHistograms([[1, 2], [5, 1]], [[5, 3], [2, 1]]), [[1, 2], [2, 1], [5, 4]]);
  });
});

describe('loader snapshot → figures', () => {
  it('names components, converts units, keeps only probes that ran', () => {
    const line = parseLoaderLine(
      JSON.stringify({
        snapshot: {
          final: true,
          windowNs: 2_500_000_000,
          components: [
            {
              id: 1,
              dwell: { slots: [[slotOfUs(2100), 3]], count: 3, sumNs: 6_300_000 },
              cpu: { onCpuNs: 1_500_000_000, softirqNs: 2_000_000 },
              connect: { established: 4, failed: 1, accepted: 0, latency: { slots: [[slotOfUs(40), 4]], count: 4, sumNs: 160_000 } },
              memory: { peakBytes: 2000, meanBytes: 1500, samples: 3 },
            },
            { id: 2, cpu: { onCpuNs: 0, softirqNs: 0 } },
          ],
          unattributedSoftirqNs: 5_000_000,
        },
      }),
    ) as SnapshotLine;
    const figures = toProbeFigures(line, new Map([[1, 'server-1/app'], [2, 'node/proxy']]), {
      probes: ['dwell', 'cpu', 'connect', 'memory'],
      failed: { runq: 'load: Permission denied' },
    });
    assert.equal(figures.windowMs, 2500);
    assert.equal(figures.final, true);
    assert.deepEqual(figures.probes, ['dwell', 'cpu', 'connect', 'memory']);
    assert.deepEqual(figures.failed, { runq: 'load: Permission denied' });
    const app = figures.components['server-1/app']!;
    assert.equal(app.dwell!.count, 3);
    assert.equal(app.dwell!.meanUs, 2100);
    assert.ok(app.dwell!.p50Us > 2048 && app.dwell!.p50Us < 2176);
    assert.equal(app.runq, undefined);
    assert.equal(app.cpuSeconds, 1.5);
    assert.equal(app.softirqSeconds, 0.002);
    assert.equal(app.connect!.count, 4);
    assert.equal(app.connect!.failed, 1);
    assert.deepEqual(app.memory, { peakBytes: 2000, meanBytes: 1500, samples: 3 });
    assert.equal(figures.components['node/proxy']!.cpuSeconds, 0);
    assert.equal(figures.unattributedSoftirqSeconds, 0.005);
  });

  it('rejects lines that are not JSON objects', () => {
    assert.throws(() => parseLoaderLine('[1,2]'));
    assert.throws(() => parseLoaderLine('libbpf: oops'));
  });
});
