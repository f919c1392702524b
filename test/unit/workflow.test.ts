// .github/workflows/nightly.yml: parsed with the yaml library and checked for the steps
// the nightly needs (run the nightly scenario, compare with last night, dashboard,
// publish with history, clean up, gate), for GitHub Actions' structure, and for using
// only meshbench commands and options that exist, on a scenario that validates.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { buildProgram } from '../../harness/cli/main.ts';
import { loadScenarioFile } from '../../harness/scenario/load.ts';
import { REPO } from '../fixtures/results/helpers.ts';

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  'continue-on-error'?: boolean;
}

interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  env: Record<string, string>;
  jobs: Record<string, { 'runs-on': unknown; 'timeout-minutes': number; steps: Step[] }>;
}

const text = readFileSync(join(REPO, '.github', 'workflows', 'nightly.yml'), 'utf8');
const workflow = parse(text) as Workflow;
const job = workflow.jobs.nightly!;
const steps = job.steps;
const MESHBENCH = 'node --import tsx harness/cli/main.ts';

function stepRunning(fragment: string): Step {
  const step = steps.find((s) => s.run?.includes(fragment));
  assert.ok(step, `a step runs "${fragment}"`);
  return step;
}

describe('nightly workflow', () => {
  test('is a valid GitHub Actions workflow: triggers, permissions, one job of steps that each use or run', () => {
    assert.equal(workflow.name, 'nightly');
    assert.ok(Array.isArray((workflow.on.schedule as Array<{ cron: string }>)) && /^\S+ \S+ \S+ \S+ \S+$/.test((workflow.on.schedule as Array<{ cron: string }>)[0]!.cron));
    assert.ok('workflow_dispatch' in workflow.on);
    assert.equal(workflow.permissions.contents, 'write'); // pushes gh-pages
    assert.ok(job['runs-on']);
    assert.ok(job['timeout-minutes'] > 0);
    const ids = steps.flatMap((s) => (s.id ? [s.id] : []));
    assert.equal(new Set(ids).size, ids.length, 'step ids are unique');
    for (const step of steps) {
      assert.ok(Boolean(step.uses) !== Boolean(step.run), `${step.name}: exactly one of uses/run`);
      assert.ok(step.name, 'every step has a name');
    }
    // Every ${{ steps.X.outputs.Y }} refers to an earlier step with that id.
    const seen = new Set<string>();
    for (const step of steps) {
      const refs = [...JSON.stringify(step).matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)];
      for (const [, id, output] of refs) {
        assert.ok(seen.has(id!), `${step.name}: steps.${id} is defined before it`);
        const producer = steps.find((s) => s.id === id)!;
        assert.ok(producer.uses || producer.run!.includes(`${output}=`), `${step.name}: steps.${id} sets output ${output}`);
      }
      if (step.id) seen.add(step.id);
    }
    assert.equal((text.match(/\$\{\{/g) ?? []).length, (text.match(/\}\}/g) ?? []).length, 'expressions are balanced');
  });

  test('has the steps: check out, Node 20, set-up, nightly run, compare with last night, dashboard, publish, clean, gate', () => {
    assert.ok(steps.some((s) => s.uses?.startsWith('actions/checkout@') && !s.with));
    const node = steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    assert.equal(node?.with?.['node-version'], 20);
    const pages = steps.find((s) => s.uses?.startsWith('actions/checkout@') && s.with?.ref === 'gh-pages');
    assert.ok(pages && pages['continue-on-error'] === true, 'history restored from gh-pages, tolerating its absence');
    stepRunning('npm run setup');
    const run = stepRunning(`${MESHBENCH} run "$SCENARIO"`);
    assert.equal(workflow.env.SCENARIO, 'scenarios/nightly.yaml');
    assert.match(run.run!, /--out "\$tonight"/);
    const compare = stepRunning(`${MESHBENCH} compare`);
    assert.match(compare.run!, /--threshold "\$THRESHOLD" --md/);
    assert.match(compare.run!, /GITHUB_STEP_SUMMARY/);
    stepRunning(`${MESHBENCH} dashboard site/history --out site`);
    const publish = stepRunning('git push origin HEAD:gh-pages');
    assert.ok(steps.indexOf(publish) > steps.indexOf(compare));
    assert.ok(steps.some((s) => s.uses?.startsWith('actions/upload-artifact@')));
    const clean = stepRunning(`${MESHBENCH} clean`);
    assert.equal(clean.if, 'always()');
    const gate = steps.at(-1)!;
    assert.match(gate.run!, /compare_status" = "1"/);
    assert.equal(gate.if, 'always()');
  });

  test('uses only meshbench commands and options that exist, and npm scripts that exist', () => {
    const program = buildProgram();
    const lines = steps.flatMap((s) => (s.run ?? '').split('\n')).filter((l) => l.includes(MESHBENCH));
    assert.ok(lines.length >= 4);
    for (const line of lines) {
      const args = line.slice(line.indexOf(MESHBENCH) + MESHBENCH.length).trim().split(/\s+/);
      const command = program.commands.find((c) => c.name() === args[0]);
      assert.ok(command, `meshbench ${args[0]} exists`);
      for (const flag of args.filter((a) => a.startsWith('--'))) {
        assert.ok(command.options.some((o) => o.long === flag), `meshbench ${args[0]} has ${flag}`);
      }
    }
    const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const [, script] of text.matchAll(/npm run (\S+)/g)) assert.ok(scripts[script!], `npm script ${script}`);
  });

  test('the nightly scenario validates and keeps 3 repeats (what compare needs to gate)', async () => {
    const scenario = await loadScenarioFile(join(REPO, workflow.env.SCENARIO!));
    assert.equal(scenario.name, 'nightly');
    assert.ok(scenario.repeats >= 3);
    assert.deepEqual(scenario.meshes, ['baseline', 'sidecar', 'ebpf', 'ebpf-l4']);
  });
});
