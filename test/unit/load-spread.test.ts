// load.spread: per-target weights in the load driver. The arithmetic (shares, the weighted
// cycle, connections by weight), the spec's checks, and the autocannon driver against three
// local servers: each gets its share of the requests (open model) or of the connections
// (closed model), counted by the servers themselves.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { runAutocannonLoad } from '../../harness/load/autocannon.ts';
import {
  apportionWeighted, connectionTargets, connectionsPerTarget, hotWeights, interleave, targetOfRequest, weightedCycle,
} from '../../harness/load/schedule.ts';
import { parseLoadSpec } from '../../harness/load/spec.ts';
import type { LoadSpec } from '../../harness/load/types.ts';

const count = (xs: number[], k: number): number => xs.filter((x) => x === k).length;

describe('weighted spread: arithmetic', () => {
  test('hot weights: the first target takes hotShare, the others split the rest', () => {
    assert.deepEqual(hotWeights(1, 0.9), [1]);
    const w = hotWeights(10, 0.9);
    assert.equal(w[0], 0.9);
    for (const x of w.slice(1)) assert.ok(Math.abs(x - 0.1 / 9) < 1e-12);
    assert.deepEqual(hotWeights(3, 1), [1, 0, 0]);
    assert.throws(() => hotWeights(3, 0), RangeError);
    assert.throws(() => hotWeights(3, 1.5), RangeError);
  });

  test('apportion: whole units by weight, at least one per positive weight, none for zero', () => {
    assert.deepEqual(apportionWeighted(10, [1, 1]), [5, 5]);
    assert.deepEqual(apportionWeighted(6, [0.8, 0.1, 0.1]), [4, 1, 1]);
    assert.deepEqual(apportionWeighted(100, hotWeights(10, 0.9)), [90, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(apportionWeighted(4, [1, 0, 3]), [1, 0, 3]);
    // The minimum of one per target wins over the share when there is little to split.
    assert.deepEqual(apportionWeighted(3, [0.98, 0.01, 0.01]), [1, 1, 1]);
    for (const total of [5, 7, 16, 100, 257]) {
      const counts = apportionWeighted(total, [5, 3, 1, 1, 0.5]);
      assert.equal(counts.reduce((a, b) => a + b, 0), total);
      assert.ok(counts.every((c) => c >= 1));
    }
    assert.throws(() => apportionWeighted(2, [1, 1, 1]), RangeError);
  });

  test('interleave: exact counts, spread out; equal counts are round robin', () => {
    assert.deepEqual(interleave([1, 1, 1]), [0, 1, 2]);
    assert.deepEqual(interleave([2, 2]), [0, 1, 0, 1]);
    const order = interleave([8, 1, 1]);
    assert.deepEqual([count(order, 0), count(order, 1), count(order, 2)], [8, 1, 1]);
    // The light targets are not bunched together.
    assert.ok(Math.abs(order.indexOf(1) - order.indexOf(2)) >= 3, order.join(','));
  });

  test('the open model: request i goes to the cycle slot i mod length, shares exact per cycle', () => {
    assert.deepEqual(weightedCycle([1, 1, 1, 1]).order, [0, 1, 2, 3]);
    const hot = weightedCycle(hotWeights(10, 0.9));
    assert.equal(hot.order.length, 90); // the smallest share (1/90) gets one slot
    assert.equal(count(hot.order, 0), 81);
    for (let k = 1; k < 10; k++) assert.equal(count(hot.order, k), 1);
    const targets = Array.from({ length: 900 }, (_, i) => targetOfRequest(i, 10, hot));
    assert.equal(count(targets, 0), 810);
    // 199 idle-ish services behind one hot one: still one slot each.
    const many = weightedCycle(hotWeights(200, 0.9));
    assert.equal(count(many.order, 0) / many.order.length, 0.9);
    assert.ok(many.order.length <= 100_000);
    // Without a cycle: round robin, as before.
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => targetOfRequest(i, 3)), [0, 1, 2, 0, 1]);
  });

  test('connections: round robin without weights, by weight with them', () => {
    assert.deepEqual(connectionTargets(5, 3), [0, 1, 2, 0, 1]);
    assert.deepEqual(connectionsPerTarget(10, 4), [3, 3, 2, 2]);
    assert.deepEqual(connectionsPerTarget(100, 10, hotWeights(10, 0.9)), [90, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(connectionsPerTarget(4, 3, hotWeights(3, 1)), [4, 0, 0]);
    const targets = connectionTargets(100, 10, hotWeights(10, 0.9));
    assert.equal(targets.length, 100);
    assert.equal(count(targets, 0), 90);
  });

  test('the spec: one weight ≥ 0 per target, one positive; connections for the weighted targets only', () => {
    const base = { targets: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }, { host: 'c', port: 3 }], model: 'open', rate: 10, durationMs: 1000, warmupMs: 0 };
    assert.deepEqual(parseLoadSpec({ ...base, connections: 1, weights: [1, 0, 0] }).weights, [1, 0, 0]);
    assert.throws(() => parseLoadSpec({ ...base, connections: 2, weights: [1, 1, 1] }), /connections: must be at least one per target \(3\)/);
    assert.throws(() => parseLoadSpec({ ...base, connections: 3, weights: [1, 1] }), /weights: must be one number ≥ 0 per target/);
    assert.throws(() => parseLoadSpec({ ...base, connections: 3, weights: [0, 0, 0] }), /at least one weight must be positive/);
    assert.throws(() => parseLoadSpec({ ...base, connections: 3, weights: [1, -1, 1] }), /weights/);
    assert.equal(parseLoadSpec({ ...base, connections: 3 }).weights, undefined);
  });
});

async function servers(n: number): Promise<{ ports: number[]; counts: number[]; close: () => Promise<void> }> {
  const counts = new Array<number>(n).fill(0);
  const list = await Promise.all(
    Array.from({ length: n }, (_, k) => {
      const server = http.createServer((_req, res) => {
        counts[k]!++;
        res.end('ok');
      });
      server.keepAliveTimeout = 0;
      return new Promise<http.Server>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
    }),
  );
  return {
    ports: list.map((s) => (s.address() as AddressInfo).port),
    counts,
    close: async () => {
      for (const s of list) s.closeAllConnections();
      await Promise.all(list.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

describe('weighted spread: the autocannon driver', () => {
  test('open model: requests by weight, counted by the servers', async () => {
    const s = await servers(3);
    try {
      const spec: LoadSpec = {
        targets: s.ports.map((port) => ({ host: '127.0.0.1', port })),
        model: 'open',
        rate: 200,
        connections: 6,
        durationMs: 1500,
        warmupMs: 0,
        weights: [0.8, 0.1, 0.1],
      };
      const outcome = await runAutocannonLoad(spec);
      const total = s.counts.reduce((a, b) => a + b, 0);
      assert.equal(total, outcome.accounting.responses);
      // The cycle is 8, 1, 1 slots: every 10 requests, exactly.
      assert.ok(Math.abs(s.counts[0]! / total - 0.8) < 0.02, s.counts.join(','));
      assert.ok(Math.abs(s.counts[1]! - s.counts[2]!) <= 1, s.counts.join(','));
    } finally {
      await s.close();
    }
  });

  test('closed model: connections by weight; a target of weight 0 gets nothing', async () => {
    const s = await servers(3);
    try {
      const spec: LoadSpec = {
        targets: s.ports.map((port) => ({ host: '127.0.0.1', port })),
        model: 'closed',
        connections: 4,
        durationMs: 1000,
        warmupMs: 0,
        weights: [3, 1, 0],
      };
      await runAutocannonLoad(spec);
      assert.equal(s.counts[2], 0);
      assert.ok(s.counts[0]! > s.counts[1]!, s.counts.join(','));
    } finally {
      await s.close();
    }
  });
});
