// The sidecar tax as the node fills, measured for real: cells of 1, 5 and 10 services
// through the sidecar mesh and the ebpf mesh, run as a run runs them (runCell: bring-up,
// probes, idle window, load, teardown). Sidecar memory must rise by about one proxy per
// added service; the ebpf path's one node proxy must stay within a small bound whatever the
// service count; every cell leaves nothing behind. And `load.spread: hot` reaches the
// driver of a real cell: the node proxy's per-service counters show the shares.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { scalingFits, scalingValue } from '../../harness/analysis/scaling.ts';
import { Haproxy } from '../../harness/proxy/haproxy.ts';
import type { CellResult } from '../../harness/results/types.ts';
import { runCell } from '../../harness/runner/cell.ts';
import { cellId } from '../../harness/scenario/plan.ts';
import type { MeshName } from '../../harness/scenario/types.ts';
import { assertNothingLeft, requireRoot, TestOutput, testRun, testScenario } from './helpers.ts';

const SERVICES = [1, 5, 10];
const MIB = 2 ** 20;
/**
 * How much the node proxy's peak RSS may grow from 1 to 10 services. Measured here: HAProxy
 * 2.6 with one listener and one backend per service, 14.3 → 14.7 MiB from 1 to 10 services
 * (+0.03 MiB per service in the 1 → 100 sweep of scenarios/scaling.yaml), while a sidecar
 * costs ~15 MiB each. The bound leaves room for allocator noise, not for a proxy per service.
 */
const NODE_PROXY_GROWTH_BOUND_MIB = 2;

const CELLS_TEST = 'sidecar and ebpf cells at 1, 5 and 10 services: idle window, load, per-component memory';

describe('cost as the node fills (10 services)', () => {
  const output = new TestOutput<CellResult>('cells', CELLS_TEST);
  const cells = output.items;
  before(requireRoot);
  after(assertNothingLeft);

  test(CELLS_TEST, async () => {
    const { runId, state } = testRun();
    const scenario = testScenario(
      { meshes: ['sidecar', 'ebpf'], services: SERVICES, probes: ['cpu', 'memory'], idleMs: 1000 },
      { rate: 100, connections: 10, durationMs: 1500, warmupMs: 500 },
    );
    const signal = new AbortController().signal;
    try {
      let index = 0;
      for (const services of SERVICES) {
        for (const mesh of ['sidecar', 'ebpf'] as MeshName[]) {
          const cell = { id: cellId(mesh, 'http1', services, 1), mesh, protocol: 'http1' as const, services, repeat: 1, index: index++ };
          cells.push(await runCell(cell, { runId, state, proxy: new Haproxy(), scenario, signal }));
          await assertNothingLeftOf(runId);
        }
      }
    } finally {
      state.close();
    }
    for (const cell of cells) {
      assert.equal(cell.load.non2xx + cell.load.socketErrors, 0, `${cell.id}: errors`);
      assert.ok(cell.idle, `${cell.id}: an idle window`);
      assert.ok(cell.idle.durationMs >= 900, `${cell.id}: idle ${cell.idle.durationMs} ms`);
    }
    output.done();
  });

  test('sidecar memory rises by about one proxy per added service', () => {
    output.read();
    const sidecar = cells.filter((c) => c.mesh === 'sidecar').sort((a, b) => a.services - b.services);
    assert.equal(sidecar.length, SERVICES.length);
    const memory = sidecar.map((c) => scalingValue(c, 'proxyMemory')!);
    for (let i = 1; i < memory.length; i++) assert.ok(memory[i]! > memory[i - 1]!, `sidecar proxy memory ${memory.join(' → ')} MiB`);
    // One sidecar per pod (client + servers), each with its own RSS.
    for (const cell of sidecar) {
      const proxies = Object.values(cell.components ?? {}).filter((c) => c.role.endsWith('sidecar'));
      assert.equal(proxies.length, cell.services + 1, cell.id);
      for (const p of proxies) assert.ok((p.memory?.peakBytes ?? 0) > 4 * MIB, `${cell.id}: a sidecar's RSS from the memory probe`);
    }
    const perSidecar = memory[0]! / 2; // 1 service: two sidecars
    const fit = scalingFits(cells).find((f) => f.mesh === 'sidecar' && f.metric === 'proxyMemory')!.fit!;
    assert.ok(fit.slope > 0.8 * perSidecar && fit.slope < 1.2 * perSidecar, `slope ${fit.slope.toFixed(2)} MiB/service vs ${perSidecar.toFixed(2)} MiB per sidecar`);
    assert.ok(fit.slopeLow > 0, 'the slope’s 95 % interval excludes 0');
    assert.ok(fit.r2 > 0.99, `R² ${fit.r2}`);
    // Idle too: the proxies are there whether or not anything happens.
    const idle = sidecar.map((c) => scalingValue(c, 'idleProxyMemory')!);
    assert.ok(idle[2]! > idle[0]! + 6 * perSidecar, `idle sidecar memory ${idle.join(' → ')} MiB`);
  });

  test(`the ebpf path's node proxy stays within ${NODE_PROXY_GROWTH_BOUND_MIB} MiB from 1 to 10 services`, () => {
    output.read();
    const ebpf = cells.filter((c) => c.mesh === 'ebpf').sort((a, b) => a.services - b.services);
    const memory = ebpf.map((c) => scalingValue(c, 'proxyMemory')!);
    process.stderr.write(`  node proxy peak RSS at ${SERVICES.join(', ')} services: ${memory.map((m) => m.toFixed(2)).join(', ')} MiB\n`);
    for (const cell of ebpf) {
      const proxies = Object.values(cell.components ?? {}).filter((c) => c.role === 'node-proxy');
      assert.equal(proxies.length, 1, `${cell.id}: one node proxy`);
    }
    assert.ok(Math.max(...memory) - Math.min(...memory) <= NODE_PROXY_GROWTH_BOUND_MIB, `node proxy ${memory.join(' → ')} MiB`);
    const sidecarAt10 = scalingValue(cells.find((c) => c.mesh === 'sidecar' && c.services === 10)!, 'proxyMemory')!;
    assert.ok(memory[2]! < sidecarAt10 / 5, 'at 10 services the node proxy holds a fraction of the sidecars’ memory');
  });
});

describe('load.spread hot on the real platform', () => {
  before(requireRoot);
  after(assertNothingLeft);

  test('hot: service 1 gets hotShare of the requests, the others share the rest (node proxy counters)', async () => {
    const { runId, state } = testRun();
    const scenario = testScenario(
      { meshes: ['ebpf'], services: [5], probes: [] },
      { rate: 200, connections: 10, durationMs: 1500, warmupMs: 500, spread: 'hot', hotShare: 0.8 },
    );
    let cell: CellResult;
    try {
      const signal = new AbortController().signal;
      cell = await runCell({ id: cellId('ebpf', 'http1', 5, 1), mesh: 'ebpf', protocol: 'http1', services: 5, repeat: 1, index: 0 }, {
        runId, state, proxy: new Haproxy(), scenario, signal,
      });
    } finally {
      state.close();
    }
    // Every request the driver sent (warm-up and window) passed one listener of the node proxy.
    const perService = [1, 2, 3, 4, 5].map((i) => cell.path[`node-proxy:s${i}`] ?? 0);
    const total = perService.reduce((a, b) => a + b, 0);
    assert.ok(total >= 350, `requests through the node proxy: ${perService.join(', ')}`);
    assert.ok(Math.abs(perService[0]! / total - 0.8) < 0.02, `service 1's share: ${perService.join(', ')}`);
    for (const n of perService.slice(1)) assert.ok(Math.abs(n / total - 0.05) < 0.02, `the others' shares: ${perService.join(', ')}`);
  });
});

async function assertNothingLeftOf(runId: string): Promise<void> {
  const { findLeftovers } = await import('../../harness/platform/local/clean.ts');
  const left = (await findLeftovers(runId)).flatMap((l) => l.resources.filter((r) => r.kind !== 'dir'));
  assert.deepEqual(left, [], `run ${runId} left resources after a cell`);
}
