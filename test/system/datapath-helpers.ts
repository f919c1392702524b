// What the data-path tests (datapaths.test.ts over HTTP/1.1, grpc-datapaths.test.ts over
// gRPC) share: a cell brought up and torn down around a check, and the two facts that prove
// a path — where iptables rules are, and which processes run in a namespace.
import { readFileSync } from 'node:fs';
import { LocalCluster, type Placement } from '../../harness/platform/local/cluster.ts';
import { netnsPids } from '../../harness/platform/local/teardown.ts';
import { Haproxy } from '../../harness/proxy/haproxy.ts';
import { bringUp, type LiveCell } from '../../harness/runner/cell.ts';
import type { Cell, Scenario } from '../../harness/scenario/types.ts';
import { testRun, testScenario } from './helpers.ts';

/** The `-A` rules of every table in a pod's or the node's netns. */
export async function iptablesRuleCount(where: Placement, cluster: LocalCluster): Promise<number> {
  const r = await cluster.exec(where, 'iptables-save', []);
  return r.stdout.split('\n').filter((l) => l.startsWith('-A')).length;
}

/** The command names of the processes inside a netns. */
export async function processNamesInNetns(netns: string): Promise<string[]> {
  const names: string[] = [];
  for (const pid of await netnsPids(netns)) {
    try {
      names.push(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      /* exited */
    }
  }
  return names;
}

/** Brings a cell up (HTTP/1.1 unless told), runs the check, tears it down whatever happens. */
export async function withCell(
  cell: Pick<Cell, 'mesh' | 'services'> & Partial<Pick<Cell, 'protocol'>>,
  check: (live: LiveCell) => Promise<void>,
  scenario: Scenario = testScenario(),
): Promise<void> {
  const { runId, state } = testRun();
  const cluster = new LocalCluster(runId, state);
  try {
    const live = await bringUp(cell, { runId, state, proxy: new Haproxy(), scenario }, cluster);
    await check(live);
  } finally {
    await cluster.down();
    state.close();
  }
}
