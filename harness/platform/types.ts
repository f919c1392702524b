// One interface per axis: a platform is what a run's cells run on. The run (harness/runner/
// run.ts) plans, interleaves, records, analyses and writes the run directory; a platform
// only provisions what the run needs, runs one cell, and tears down what it made. Each of
// the three steps has its own cleanup registry (local: state.json, kind/kubernetes:
// kube-state.json), written before anything is created, so `meshbench clean` works from it
// after a crash. The runner, results and reports never know which platform ran.
import type { CellResult, Environment } from '../results/types.ts';
import type { Cell, PlatformName, Scenario } from '../scenario/types.ts';

/** What a platform is told about the run it serves. */
export interface RunContext {
  runId: string;
  /** The run directory (result.json, cells.jsonl, the platform's state file). */
  runDir: string;
  scenario: Scenario;
  /** Aborted on SIGINT/SIGTERM: the current step stops and cleans up after itself. */
  signal: AbortSignal;
  /** Progress a human may want while minutes pass (cluster creation, a cell's objects). */
  log: (line: string) => void;
}

/** What a platform says about itself for result.json's environment. */
export interface PlatformFacts {
  /** The L7 proxy (or proxies) the run's data paths use. */
  proxy: Environment['proxy'];
  /** Where the load driver and the system under test ran. */
  placement: Environment['placement'];
  /** Versions of the platform's own tools and what it found (kind, Istio, Cilium …). */
  tools: Record<string, string>;
  /** Notes for the run (e.g. one CPU only; clusters side by side). */
  notes: string[];
}

export interface ProvisionedPlatform {
  /** The facts as provisioned (a cluster's versions and nodes are known only now). */
  facts: PlatformFacts;
  /** One cell, from nothing to torn down again, also on failure and abort. */
  runCell(cell: Cell): Promise<CellResult>;
  /** Removes whatever provision made; returns notes on what could not be removed. */
  teardown(): Promise<string[]>;
}

export interface Platform {
  readonly name: PlatformName;
  /** What is known before anything is created (the environment of a run whose provisioning fails). */
  facts(): Promise<PlatformFacts>;
  /** Creates what the run needs before its first cell (kind clusters, the image, kernel settings). */
  provision(run: RunContext): Promise<ProvisionedPlatform>;
}
