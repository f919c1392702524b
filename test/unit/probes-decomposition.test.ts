// The decomposition's arithmetic on figures with a known answer: a sidecar path whose every
// part is set by hand, and a baseline next to it; the loader's path/hop lines parsed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decomposeCell, decomposeMeshes, decompositionWords, deltaWords, totalsOf, type CellDecomposition } from '../../harness/analysis/decomposition.ts';
import { latencyFigures, slotOfUs } from '../../harness/probes/histogram.ts';
import type { MedianRequestFigures } from '../../harness/probes/types.ts';
import { toProbeFigures, type SnapshotLine } from '../../harness/probes/protocol.ts';
import { DEFAULT_SAMPLE_EVERY, sampleEveryFromEnv } from '../../harness/probes/session.ts';
import { InputError } from '../../harness/errors.ts';
import type { ComponentRole } from '../../harness/mesh/types.ts';
import { baselineInput, fixed, sidecarInput } from '../fixtures/decomposition.ts';

describe('decomposition of a cell', () => {
  it('splits a sidecar path into its 6 hops and 3 residences, in path order, summing to the known total', () => {
    const d = decomposeCell(sidecarInput())!;
    assert.deepEqual(d.parts.map((p) => `${p.kind}:${p.label}`), [
      'hop:client-app → client-sidecar', 'residence:client-sidecar',
      'hop:client-sidecar → server-sidecar', 'residence:server-sidecar',
      'hop:server-sidecar → server-app', 'residence:server-app',
      'hop:server-app → server-sidecar', 'hop:server-sidecar → client-sidecar', 'hop:client-sidecar → client-app',
    ]);
    const residence = (role: ComponentRole): number => d.parts.find((p) => p.kind === 'residence' && p.role === role)!.meanUs;
    assert.equal(residence('client-sidecar'), 20);
    assert.equal(residence('server-sidecar'), 15);
    assert.equal(residence('server-app'), 30);
    for (const hop of d.parts.filter((p) => p.kind === 'hop')) {
      assert.deepEqual([hop.send!.meanUs, hop.transit!.meanUs, hop.wake!.meanUs], [2, 5, 10], hop.label);
    }
    assert.equal(d.hops, 6);
    assert.equal(d.sum.meanUs, 6 * 17 + 65);
    assert.equal(d.unattributed.meanUs, 4); // the driver's own user space
    assert.equal(d.probeRequests, 100);
    assert.deepEqual(d.notes, []);
  });

  it('puts the driver\'s own send lateness first, as the client app\'s residence', () => {
    const d = decomposeCell({ ...sidecarInput(), driverLateness: { meanUs: 3, p50Us: 2 } })!;
    assert.deepEqual([d.parts[0]!.label, d.parts[0]!.meanUs, d.parts[0]!.p50Us], ['client-app (send lateness)', 3, 2]);
    assert.equal(d.unattributed.meanUs, 1);
    assert.deepEqual(d.notes, []);
  });

  it('p50s from whole requests around the median add up where the parts\' own medians do not', () => {
    const input = sidecarInput();
    const total = 6 * 17 + 65;
    // Every wake-up skewed: 60 of 5 µs and 40 of 17.5 µs, mean 10 µs (as before), median 5 µs.
    const skewed = latencyFigures([[slotOfUs(5), 60], [slotOfUs(17.5), 40]], (60 * 5 + 40 * 17.5) * 1000);
    for (const c of Object.values(input.components)) {
      for (const k of ['wakeReq', 'wakeResp'] as const) if (c.path?.[k]) c.path[k] = skewed;
    }
    // And the outer sidecar's served (the parts telescope to it): 60 at 125 µs, 40 at 175 µs, mean 145 µs as before.
    input.components['client-1/client-sidecar']!.path!.served = latencyFigures([[slotOfUs(125), 60], [slotOfUs(175), 40]], (60 * 125 + 40 * 175) * 1000);
    const medians = decomposeCell(input)!;
    assert.equal(medians.sum.meanUs, total);
    assert.equal(medians.p50?.from, 'part medians');
    assert.ok(medians.sum.p50Us < total - 15, `the parts' medians sum below the median request: ${medians.sum.p50Us}`);
    // The same requests followed whole: each part's mean over the ones around the median.
    const whole = (requests: number, averaged: number): MedianRequestFigures => ({
      requests,
      kept: requests,
      averaged,
      roundTripMeanUs: total,
      parts: Object.fromEntries(Object.entries(input.components).map(([id, c]) => [id, Object.fromEntries(Object.entries(c.path!).map(([k, f]) => [k, f!.meanUs]))])),
      hops: input.hops!.map((h) => ({ from: h.from, to: h.to, us: 5 })),
    });
    const d = decomposeCell({ ...input, medianRequest: whole(100, 20) })!;
    assert.deepEqual(d.p50, { from: 'median requests', requests: 100, averaged: 20 });
    assert.equal(d.sum.p50Us, total, 'they add up to the round trip of the requests averaged');
    assert.equal(d.parts.find((p) => p.role === 'server-app')!.p50Us, 30);
    assert.deepEqual(d.sum, { meanUs: total, p50Us: total });
    assert.deepEqual(d.notes, [], 'they match the averaged requests\' round trip');
    assert.match(decomposeCell({ ...input, medianRequest: { ...whole(100, 20), roundTripMeanUs: total * 1.5 } })!.notes.join('\n'), /the p50 parts .* differ from the averaged whole requests' round trip/);
    // Too few requests followed, or most of them not alone: each part's own median, and why.
    assert.deepEqual(decomposeCell({ ...input, medianRequest: whole(100, 10) })!.p50, { from: 'part medians', why: '100 whole requests followed, fewer than 20' });
    assert.match((decomposeCell({ ...input, medianRequest: whole(40, 20) })!.p50 as { why: string }).why, /^only 40 of 100 requests were alone in the cell/);
  });

  it('says nothing without the path figures (dwell probe off)', () => {
    const input = sidecarInput();
    for (const c of Object.values(input.components)) delete c.path;
    assert.equal(decomposeCell(input), undefined);
  });

  it('notes parts that do not add up to the client\'s kernel round trip', () => {
    const input = sidecarInput();
    input.hops = input.hops!.map((h) => ({ ...h, transit: fixed(50) }));
    assert.match(decomposeCell(input)!.notes.join('\n'), /differ from its kernel round trip/);
  });

  it('kernel cost per request from the pods\' CPUs, the data path\'s BPF run time and per role', () => {
    const input = { ...baselineInput(), podCpus: '1', hostCpus: { '0': { userSeconds: 9, systemSeconds: 9, softirqSeconds: 9, irqSeconds: 0, idleSeconds: 0 }, '1': { userSeconds: 0.002, systemSeconds: 0.003, softirqSeconds: 0.001, irqSeconds: 0, idleSeconds: 1 } }, datapathBpf: { programs: ['socklb_connect4'], runTimeNs: 5000, runCount: 4 } };
    const k = decomposeCell(input)!.kernel!;
    assert.equal(k.kernelUsPerRequest, 40); // (3 + 1) ms over 100 requests, CPU 0 (the driver's) left out
    assert.equal(k.softirqUsPerRequest, 10);
    assert.deepEqual(k.datapathBpf, { programs: ['socklb_connect4'], runNsPerRequest: 50, runsPerRequest: 0.04 });
  });
});

describe('a mesh\'s Δ vs the baseline, split the same way', () => {
  const cell = (mesh: 'baseline' | 'sidecar', d: CellDecomposition) => ({ mesh, protocol: 'http1' as const, services: 1, load: { saturated: false }, decomposition: d });

  it('attributes the sidecar\'s extra latency to proxies, extra hops and wake-ups', () => {
    const sidecar = decomposeCell(sidecarInput())!;
    const baseline = decomposeCell(baselineInput())!;
    const [base, side] = decomposeMeshes([cell('sidecar', sidecar), cell('baseline', baseline)]);
    assert.equal(base!.mesh, 'baseline');
    assert.equal(base!.delta, undefined);
    const delta = side!.delta!;
    assert.equal(delta.driverUs, sidecar.driver.meanUs - 68);
    assert.equal(delta.proxyUserUs, 35);
    assert.equal(delta.hops, 4);
    assert.equal(delta.kernelTransitUs, 6 * 7 - 2 * 7);
    assert.equal(delta.wakeUpUs, 6 * 10 - 2 * 10);
    assert.equal(delta.appUserUs, 0);
    assert.equal(delta.proxyUserUs + delta.kernelTransitUs + delta.wakeUpUs + delta.appUserUs + delta.clientUs + delta.unattributedUs, delta.driverUs);
    assert.equal(delta.words, "sidecar +103 µs (mean) = +35 µs in proxies' user space + 28 µs of kernel transit (4 extra kernel hops) + 40 µs of wake-ups + 0 µs in the server app + 0 µs in the driver's send lateness + 0 µs unattributed");
    assert.deepEqual(totalsOf(sidecar).hops, 6);
  });

  it('words a faster mesh with minus signs', () => {
    assert.match(deltaWords('ebpf-l4', { proxyUserUs: 0, clientUs: 0, appUserUs: -1, kernelTransitUs: -3, wakeUpUs: 2, unattributedUs: 0, driverUs: -2, hops: 0 }), /^ebpf-l4 −2 µs \(mean\) = \+0 µs .* − 3 µs of kernel transit \(no extra hop\) \+ 2 µs of wake-ups − 1 µs in the server app/);
  });

  it('says when the parts are a sample and the driver is not (sampleEvery > 1); nothing when every message is timed', () => {
    const all = decomposeMeshes([cell('baseline', decomposeCell(baselineInput())!), cell('sidecar', decomposeCell(sidecarInput())!)]);
    assert.equal(all.some((m) => m.sampleEvery !== undefined), false);
    assert.equal(decompositionWords(all).some((w) => /sampling error/.test(w)), false);
    const sampled = decomposeMeshes([cell('baseline', decomposeCell({ ...baselineInput(), sampleEvery: 10 })!), cell('sidecar', decomposeCell(sidecarInput())!)]);
    assert.equal(sampled.find((m) => m.mesh === 'baseline')!.sampleEvery, 10);
    assert.match(decompositionWords(sampled).at(-1)!, /timed in the first 1\/10 of every second .* MESHBENCH_PROBES_SAMPLE_EVERY=1 times every message$/);
  });

  it('leaves saturated and failed cells out', () => {
    const d = decomposeCell(baselineInput())!;
    assert.deepEqual(decomposeMeshes([{ ...cell('baseline', d), load: { saturated: true } }, { ...cell('baseline', d), status: 'failed' }]), []);
  });
});

describe('the loader\'s path and hop figures', () => {
  it('become per-component path figures and named hops', () => {
    const line: SnapshotLine = {
      snapshot: {
        final: true,
        windowNs: 1e9,
        components: [
          { id: 1, path: { served: { slots: [[slotOfUs(40), 2]], count: 2, sumNs: 80_000 }, wakeReq: { slots: [], count: 0, sumNs: 0 } } },
          { id: 2, path: {} },
        ],
        hops: [{ from: 2, to: 1, transit: { slots: [[slotOfUs(6), 2]], count: 2, sumNs: 12_000 } }],
      },
    };
    const figures = toProbeFigures(line, new Map([[1, 'server-1/server-app'], [2, 'client-1/client-app']]), { probes: ['dwell'], failed: {} });
    assert.equal(figures.components['server-1/server-app']!.path!.served!.meanUs, 40);
    assert.equal(figures.components['server-1/server-app']!.path!.wakeReq, undefined, 'no sample: no figure');
    assert.deepEqual(figures.hops!.map((h) => [h.from, h.to, h.transit.meanUs]), [['client-1/client-app', 'server-1/server-app', 6]]);
    assert.equal(figures.medianRequest, undefined, 'no origin followed: no whole requests');
  });

  it('whole requests around the median: ns to µs, ids to names', () => {
    const line: SnapshotLine = {
      snapshot: {
        final: true,
        windowNs: 1e9,
        components: [{ id: 1 }, { id: 2 }],
        medianRequest: {
          requests: 300, kept: 300, averaged: 30, roundTripP50Ns: 61_000, roundTripMeanNs: 60_500,
          parts: [{ component: 2, kind: 'waited', ns: 52_000 }, { component: 1, kind: 'served', ns: 40_250 }, { component: 1, kind: 'bogus', ns: 1 }],
          hops: [{ from: 2, to: 1, ns: 6_000 }],
        },
      },
    };
    const figures = toProbeFigures(line, new Map([[1, 'server-1/server-app'], [2, 'client-1/client-app']]), { probes: ['dwell'], failed: {} });
    assert.deepEqual(figures.medianRequest, {
      requests: 300, kept: 300, averaged: 30, roundTripP50Us: 61, roundTripMeanUs: 60.5,
      parts: { 'client-1/client-app': { waited: 52 }, 'server-1/server-app': { served: 40.25 } },
      hops: [{ from: 'client-1/client-app', to: 'server-1/server-app', us: 6 }],
    });
  });
});

describe('MESHBENCH_PROBES_SAMPLE_EVERY', () => {
  it('absent or empty: the default; an integer 1..1000 as given; anything else refused naming the variable', () => {
    assert.equal(sampleEveryFromEnv({}), DEFAULT_SAMPLE_EVERY);
    assert.equal(sampleEveryFromEnv({ MESHBENCH_PROBES_SAMPLE_EVERY: '' }), DEFAULT_SAMPLE_EVERY);
    assert.equal(sampleEveryFromEnv({ MESHBENCH_PROBES_SAMPLE_EVERY: '1' }), 1);
    assert.equal(sampleEveryFromEnv({ MESHBENCH_PROBES_SAMPLE_EVERY: '1000' }), 1000);
    for (const bad of ['0', '1001', '2.5', 'x', '-3']) {
      assert.throws(() => sampleEveryFromEnv({ MESHBENCH_PROBES_SAMPLE_EVERY: bad }), (e: unknown) =>
        e instanceof InputError && e.message === `MESHBENCH_PROBES_SAMPLE_EVERY: 1 problem\n  MESHBENCH_PROBES_SAMPLE_EVERY: expected an integer 1..1000, got "${bad}"`);
    }
  });
});
