// Adding a mesh is one module: this test defines a throwaway data path here and nowhere
// else — iptables DNAT on the node from each VIP to one per-node proxy, which forwards to
// the server — registers it, and runs it beside baseline through the local platform and the
// one run pipeline. No file of the harness knows its name; the result, summary.md and
// report.html carry it all the same.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../../harness/exec.ts';
import { registerMesh } from '../../harness/mesh/index.ts';
import { serviceRoutes } from '../../harness/mesh/sidecar.ts';
import type { Component, KubeMesh, Mesh, MeshContext, MeshModule } from '../../harness/mesh/types.ts';
import { LocalPlatform } from '../../harness/platform/local/platform.ts';
import { chainName } from '../../harness/platform/local/names.ts';
import type { RunningProxy } from '../../harness/proxy/types.ts';
import type { RunResult } from '../../harness/results/types.ts';
import { runScenario } from '../../harness/runner/run.ts';
import type { MeshName } from '../../harness/scenario/types.ts';
import { assertNothingLeft, requireRoot, testScenario } from './helpers.ts';

const NAME = 'throwaway-dnat-proxy';
const LISTEN_PORT_BASE = 21000;

/** VIP:port → the node proxy's listener for that service, by iptables DNAT in the node netns. */
class ThrowawayMesh implements Mesh {
  readonly name = NAME;
  readonly path = 'client → (iptables DNAT on the node) → node proxy → server';
  private ctx?: MeshContext;
  private proxy?: RunningProxy;

  async install(ctx: MeshContext): Promise<void> {
    this.ctx = ctx;
    const { cluster } = ctx;
    this.proxy = await ctx.proxy.start(cluster, cluster.node, {
      id: 'throwaway-proxy',
      perService: {
        bindIp: cluster.node.ip,
        listeners: serviceRoutes(ctx.services).map((route, i) => ({ listenPort: LISTEN_PORT_BASE + ctx.services[i]!.index, route })),
      },
    }, {});
    const chain = chainName(cluster.runId, 'THROWAWAY');
    const rules = ['*nat', `:${chain} - [0:0]`, `-A PREROUTING -d 198.19.0.0/16 -j ${chain}`];
    for (const s of ctx.services) {
      rules.push(`-A ${chain} -d ${s.vip}/32 -p tcp --dport ${s.port} -j DNAT --to-destination ${cluster.node.ip}:${LISTEN_PORT_BASE + s.index}`);
    }
    await cluster.iptablesRestore(cluster.node, [...rules, 'COMMIT', ''].join('\n'));
  }

  async attach(): Promise<void> {}

  components(): Component[] {
    if (!this.proxy || !this.ctx) return [];
    const node = this.ctx.cluster.node;
    return [{ id: 'node/node-proxy', role: 'node-proxy', pod: 'node', pid: this.proxy.process.pid, cgroupV2: node.cgroupV2 }];
  }

  async pathCounters(): Promise<Record<string, number>> {
    const stats = await this.proxy!.stats();
    const counters: Record<string, number> = {};
    for (const [listener, count] of Object.entries(stats.requestsByListener)) counters[`throwaway-proxy:${listener}`] = count;
    const nat = await run('iptables', ['-t', 'nat', '-S', chainName(this.ctx!.cluster.runId, 'THROWAWAY')], { netns: this.ctx!.cluster.node.netns });
    counters['dnat-rules'] = nat.stdout.split('\n').filter((l) => l.includes('DNAT')).length;
    return counters;
  }
}

const throwaway: MeshModule<string> = {
  name: NAME,
  description: 'a throwaway test mesh: iptables DNAT on the node to one node proxy, then the server',
  phrase: 'the throwaway DNAT-to-node-proxy path',
  colour: '#aa00ff',
  requires: { local: ['iptables', 'proxy'], cluster: 'nothing', flavour: 'kube' },
  local: () => new ThrowawayMesh(),
  kube: (): KubeMesh => ({
    name: NAME,
    path: 'not run on Kubernetes in this test',
    namespaceLabels: () => ({}),
    objects: () => [],
    containers: () => [],
    pathCounters: () => [],
    notes: () => [],
  }),
};

describe('a mesh registered by a test alone', () => {
  let unregister: (() => void) | undefined;
  const out = mkdtempSync(join(tmpdir(), 'meshbench-throwaway-'));
  before(() => {
    requireRoot();
    unregister = registerMesh(throwaway);
  });
  after(async () => {
    unregister?.();
    rmSync(out, { recursive: true, force: true });
    await assertNothingLeft();
  });

  test('runs through the local platform and shows in result.json, summary.md and report.html', async () => {
    const scenario = testScenario(
      { meshes: ['baseline', NAME as MeshName], probes: [] },
      { rate: 100, connections: 2, durationMs: 1500, warmupMs: 500, driver: 'autocannon' },
    );
    const scenarioRun = runScenario(scenario, { outRoot: out, platform: new LocalPlatform() });
    const failures: string[] = [];
    scenarioRun.on('cell:failed', (cell, error) => failures.push(`${cell.id}: ${error.message}`));
    const result = await scenarioRun.done;
    assert.deepEqual(failures, []);
    assert.equal(result.status, 'complete', result.notes.join('\n'));

    const cell = result.cells.find((c) => c.mesh === (NAME as MeshName));
    assert.ok(cell, 'a cell of the throwaway mesh');
    assert.ok(cell.load.requests > 0, 'requests answered through the throwaway path');
    // Every measured request passed its node proxy (warm-up requests too, hence ≥).
    assert.ok((cell.path['throwaway-proxy:s1'] ?? 0) >= cell.load.requests, JSON.stringify(cell.path));
    assert.equal(cell.path['dnat-rules'], 1);
    assert.ok(cell.cpuSeconds?.['node/node-proxy'] !== undefined, 'its node proxy is a watched component');
    assert.ok(result.analysis.overhead.some((o) => o.mesh === (NAME as MeshName)), 'compared with baseline');

    const stored = JSON.parse(readFileSync(join(scenarioRun.runDir, 'result.json'), 'utf8')) as RunResult;
    assert.equal(stored.cells.length, 2);
    const summary = readFileSync(join(scenarioRun.runDir, 'summary.md'), 'utf8');
    assert.match(summary, new RegExp(NAME));
    const report = readFileSync(join(scenarioRun.runDir, 'report.html'), 'utf8');
    assert.ok(report.includes(throwaway.description), 'report describes the mesh from its module');
    assert.ok(report.includes(throwaway.colour), 'charts colour it with its module colour');
    assert.ok(existsSync(join(scenarioRun.runDir, 'cells.jsonl')));
  });
});
