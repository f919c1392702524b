// The pure parts of the kind/kubernetes platforms: node placement, what "ready" means,
// what an existing cluster lacks, the driver's result in its log, metrics, component
// names, containers to cgroups, the probe agent's requests, tools and doctor, clean's
// cluster list — and, for real on this host, that a run without docker/kind stops before
// creating anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { V1DaemonSet, V1Deployment, V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { componentId, parseDriverOutcome } from '../../harness/platform/kubernetes/cell.ts';
import { CgroupFinder, cgroupCpuUsageUs, cgroupNameMatches, containerIdOf, indexContainerCgroups } from '../../harness/platform/kubernetes/cgroups.ts';
import { runKindClusters } from '../../harness/platform/kubernetes/clean.ts';
import { agentArgv, containerStatusId, cpuSecondsBetween } from '../../harness/platform/kubernetes/clusterProbes.ts';
import { clusterKeyOf, flavoursFor, imageVersion, meshGaps, pickNodes } from '../../harness/platform/kubernetes/cluster.ts';
import { kubeChecks, kubePlatformSummary, kubeconfigContexts } from '../../harness/platform/kubernetes/doctor.ts';
import { sumPrometheusCounter, watchPath } from '../../harness/platform/kubernetes/kube.ts';
import { cellNamespace, isLabelValue } from '../../harness/platform/kubernetes/names.ts';
import { parseAgentRequest } from '../../harness/platform/kubernetes/probeAgent.ts';
import { KUBE_TOOLS, missingTools, toolStatus, toolsNeeded, type KubeTool, type ToolStatus } from '../../harness/platform/kubernetes/tools.ts';
import { daemonSetsReady, deploymentsAvailable, jobFailure, jobFinished, nodesReady, podStarted } from '../../harness/platform/kubernetes/waits.ts';

const node = (name: string, opts: { ready?: boolean; taint?: string; unschedulable?: boolean } = {}): V1Node => ({
  metadata: { name },
  spec: { ...(opts.taint ? { taints: [{ key: 'k', effect: opts.taint }] } : {}), ...(opts.unschedulable ? { unschedulable: true } : {}) },
  status: { conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
});

describe('placement on a cluster', () => {
  test('same-node: the first schedulable node by name; cross-node: the first two', () => {
    const nodes = [node('w2'), node('cp', { taint: 'NoSchedule' }), node('w1'), node('w0', { ready: false }), node('w3', { unschedulable: true })];
    assert.deepEqual(pickNodes(nodes, 'same-node'), { client: 'w1', server: 'w1' });
    assert.deepEqual(pickNodes(nodes, 'cross-node'), { client: 'w1', server: 'w2' });
  });

  test('a one-node kind cluster (no taint) serves same-node only', () => {
    assert.deepEqual(pickNodes([node('kind-control-plane')], 'same-node'), { client: 'kind-control-plane', server: 'kind-control-plane' });
    assert.throws(() => pickNodes([node('kind-control-plane')], 'cross-node'), /cross-node needs two schedulable nodes/);
    assert.throws(() => pickNodes([node('cp', { taint: 'NoExecute' })], 'same-node'), /no schedulable node/);
  });

  test('meshes to clusters: kube flavour for baseline/sidecar, cilium for the ebpf paths, one existing cluster for all', () => {
    assert.deepEqual(flavoursFor(['ebpf-l4', 'baseline']), ['kube', 'cilium']);
    assert.deepEqual(flavoursFor(['sidecar']), ['kube']);
    assert.deepEqual(flavoursFor(['ebpf']), ['cilium']);
    assert.equal(clusterKeyOf('kind', 'ebpf'), 'cilium');
    assert.equal(clusterKeyOf('kubernetes', 'ebpf'), 'existing');
  });
});

describe('what ready means (checks over Watch events)', () => {
  test('nodes: all Ready, as many as the config has', () => {
    assert.deepEqual(nodesReady(3)([node('a'), node('b')]), { state: 'waiting', why: '2 of 3 nodes Ready' });
    assert.deepEqual(nodesReady(2)([node('a'), node('b', { ready: false })]), { state: 'waiting', why: '1 of 2 nodes Ready' });
    assert.deepEqual(nodesReady(2)([node('a'), node('b')]), { state: 'done' });
  });

  test('deployments: rolled out and available, observed generation current', () => {
    const d = (name: string, available: number, observed = 1): V1Deployment => ({
      metadata: { name, generation: 1 },
      spec: { replicas: 1, selector: {}, template: {} },
      status: { observedGeneration: observed, updatedReplicas: 1, availableReplicas: available },
    });
    assert.equal(deploymentsAvailable(2)([d('s1', 1), d('s2', 1)]).state, 'done');
    assert.deepEqual(deploymentsAvailable(2)([d('s1', 1), d('s2', 0)]), { state: 'waiting', why: '1 of 2 deployments available (waiting for s2)' });
    assert.equal(deploymentsAvailable(1)([d('s1', 1, 0)]).state, 'waiting', 'a stale status does not count');
    assert.equal(deploymentsAvailable(2)([d('s1', 1)]).state, 'waiting', 'not all there yet');
  });

  test('daemonsets: a ready pod on every node it targets', () => {
    const ds = (ready: number, desired: number): V1DaemonSet => ({
      metadata: { name: 'cilium', generation: 2 },
      status: { observedGeneration: 2, desiredNumberScheduled: desired, numberReady: ready, updatedNumberScheduled: desired, currentNumberScheduled: desired, numberMisscheduled: 0 },
    });
    assert.deepEqual(daemonSetsReady(1)([ds(2, 3)]), { state: 'waiting', why: 'cilium: 2/3 ready' });
    assert.equal(daemonSetsReady(1)([ds(3, 3)]).state, 'done');
    assert.equal(daemonSetsReady(1)([ds(0, 0)]).state, 'waiting', 'nothing scheduled yet is not ready');
  });

  test("the driver pod: its container started (not just the pod's phase), or hopeless", () => {
    const pod = (phase: string, state: Record<string, unknown>): V1Pod => ({
      metadata: { name: 'load-driver-x' },
      status: {
        phase,
        initContainerStatuses: [{ name: 'istio-proxy', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: {} } }],
        containerStatuses: [{ name: 'load-driver', image: 'i', imageID: '', ready: false, restartCount: 0, state }],
      },
    });
    assert.equal(podStarted([]).state, 'waiting');
    assert.equal(podStarted([pod('Pending', { waiting: { reason: 'PodInitializing' } })]).state, 'waiting');
    assert.equal(podStarted([pod('Running', { waiting: { reason: 'ContainerCreating' } })]).state, 'waiting', 'the native sidecar runs, the driver not yet');
    assert.equal(podStarted([pod('Running', { running: {} })]).state, 'done');
    assert.equal(podStarted([pod('Succeeded', { terminated: { exitCode: 0 } })]).state, 'done');
    assert.deepEqual(podStarted([pod('Pending', { waiting: { reason: 'ErrImagePull' } })]), { state: 'failed', why: 'pod load-driver-x container load-driver: ErrImagePull' });
  });

  test('the Job: finished either way; a failure says why', () => {
    const job = (type?: string, message?: string): V1Job => ({
      metadata: { name: 'load-driver' },
      status: type ? { conditions: [{ type, status: 'True', reason: type === 'Failed' ? 'DeadlineExceeded' : 'Completed', ...(message ? { message } : {}) }] } : { active: 1 },
    });
    assert.deepEqual(jobFinished([job()]), { state: 'waiting', why: 'job load-driver: 1 active' });
    assert.equal(jobFinished([job('Complete')]).state, 'done');
    assert.equal(jobFinished([job('Failed')]).state, 'done');
    assert.equal(jobFailure(job('Failed', 'Job was active longer than specified deadline')), 'DeadlineExceeded: Job was active longer than specified deadline');
    assert.equal(jobFailure(job('Complete')), undefined);
  });

  test('watch paths of core and grouped kinds', () => {
    assert.equal(watchPath('Node'), '/api/v1/nodes');
    assert.equal(watchPath('Pod', 'mb-ab12c-c0'), '/api/v1/namespaces/mb-ab12c-c0/pods');
    assert.equal(watchPath('Deployment', 'x'), '/apis/apps/v1/namespaces/x/deployments');
    assert.equal(watchPath('Job', 'x'), '/apis/batch/v1/namespaces/x/jobs');
    assert.equal(watchPath('Namespace'), '/api/v1/namespaces');
  });
});

describe('an existing cluster (platform kubernetes)', () => {
  test('versions read from images', () => {
    assert.equal(imageVersion('docker.io/istio/pilot:1.24.2'), '1.24.2');
    assert.equal(imageVersion('quay.io/cilium/cilium:v1.16.5@sha256:758ca0793f5995bb938a2fa219dcce63dc0b3fa7fc4ce5cc851125281fb7361d'), '1.16.5');
    assert.equal(imageVersion('quay.io/cilium/cilium:latest'), undefined);
  });

  test('what it lacks for the scenario, before anything is created', () => {
    const all = ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'] as const;
    assert.deepEqual(meshGaps(all, { ciliumEnvoy: false }, {}), [
      'the sidecar mesh needs Istio: no istio-system/istiod Deployment',
      'the ebpf meshes need Cilium as the CNI: no kube-system/cilium DaemonSet',
    ]);
    assert.deepEqual(meshGaps(['baseline'], { ciliumEnvoy: false }, {}), []);
    const cilium = { cilium: '1.16.5', ciliumEnvoy: true, ciliumConfig: { 'kube-proxy-replacement': 'false', 'enable-l7-proxy': 'false' } };
    assert.deepEqual(meshGaps(['ebpf'], cilium, { cilium: '1.17.0' }), [
      'versions.cilium is 1.17.0, the cluster runs Cilium 1.16.5',
      "the ebpf meshes need Cilium's kube-proxy replacement: cilium-config has kube-proxy-replacement=false",
      "the ebpf mesh needs Cilium's L7 proxy: cilium-config has enable-l7-proxy=false",
    ]);
    assert.deepEqual(meshGaps(['sidecar', 'ebpf-l4'], { istio: '1.24.2', cilium: '1.16.5', ciliumEnvoy: true, ciliumConfig: { 'kube-proxy-replacement': 'true' } }, { istio: '1.24.2' }), []);
  });
});

describe('the driver result and the path counters', () => {
  const outcome = { driver: 'autocannon', model: 'open', achievedRps: 300, requests: 3000, non2xx: 0, socketErrors: 0, connections: 4, measuredMs: 10_000, saturated: false, latencyUs: { p50: 800 } };

  test('the last JSON line with latencyUs is the LoadOutcome', () => {
    const log = `(node:1) ExperimentalWarning: …\n{"phase":"measure"}\n${JSON.stringify(outcome)}\n`;
    assert.deepEqual(parseDriverOutcome(log), outcome);
  });

  test("the driver's error line, or the log's tail, becomes the cell's failure", () => {
    assert.throws(() => parseDriverOutcome('{"error":"connect ECONNREFUSED 10.96.0.10:80"}\n'), /load driver failed: connect ECONNREFUSED/);
    assert.throws(() => parseDriverOutcome('starting\nSegmentation fault\n'), /printed no result; its log ends with:\nstarting\nSegmentation fault/);
    assert.throws(() => parseDriverOutcome(''), /\(empty\)/);
  });

  test('Prometheus counters summed over matching samples', () => {
    const text = [
      '# TYPE istio_requests_total counter',
      'istio_requests_total{reporter="destination",response_code="200",source_workload="load-driver"} 2990',
      'istio_requests_total{reporter="destination",response_code="503"} 10',
      'istio_requests_total{reporter="source",response_code="200"} 3000',
      'istio_requests_total_other{reporter="destination"} 5',
      'cilium_policy_l7_total{proxy_type="http",rule="forwarded"} 1.5e3',
      'cilium_policy_l7_total{proxy_type="http",rule="received"} 1500',
    ].join('\n');
    assert.equal(sumPrometheusCounter(text, 'istio_requests_total', { reporter: 'destination' }), 3000);
    assert.equal(sumPrometheusCounter(text, 'cilium_policy_l7_total', { rule: 'forwarded' }), 1500);
    assert.equal(sumPrometheusCounter(text, 'absent_total', {}), 0);
  });

  test('components are named as on the local platform', () => {
    const pod = (labels: Record<string, string>, nodeName = 'w2'): V1Pod => ({ metadata: { name: 'p-x', labels }, spec: { nodeName, containers: [] } });
    assert.equal(componentId(pod({ 'meshbench.io/role': 'server', app: 's12' }), 'server-app'), 'server-12/server-app');
    assert.equal(componentId(pod({ 'meshbench.io/role': 'server', app: 's3' }), 'server-sidecar'), 'server-3/server-sidecar');
    assert.equal(componentId(pod({ 'meshbench.io/role': 'client' }), 'client-sidecar'), 'client-1/client-sidecar');
    assert.equal(componentId(pod({ 'k8s-app': 'cilium-envoy' }, 'w1'), 'node-proxy'), 'w1/node-proxy');
  });

  test('a native sidecar is found among the init containers', () => {
    const pod: V1Pod = {
      status: {
        initContainerStatuses: [{ name: 'istio-proxy', containerID: 'containerd://ab', image: '', imageID: '', ready: true, restartCount: 0 }],
        containerStatuses: [{ name: 'server-app', containerID: 'containerd://cd', image: '', imageID: '', ready: true, restartCount: 0 }],
      },
    };
    assert.equal(containerStatusId(pod, 'istio-proxy'), 'containerd://ab');
    assert.equal(containerStatusId(pod, 'server-app'), 'containerd://cd');
    assert.equal(containerStatusId(pod, 'nope'), undefined);
  });
});

describe('containers to cgroups (the probe agent, on a node)', () => {
  const id = (c: string): string => c.repeat(64);

  test('container ids from pod status, for each runtime prefix', () => {
    assert.equal(containerIdOf(`containerd://${id('a')}`), id('a'));
    assert.equal(containerIdOf(`cri-o://${id('b')}`), id('b'));
    assert.throws(() => containerIdOf('containerd://../../etc'), /not a container id/);
    assert.equal(cgroupNameMatches(`cri-containerd-${id('a')}.scope`, id('a')), true);
    assert.equal(cgroupNameMatches(id('a'), id('a')), true);
    assert.equal(cgroupNameMatches(`cri-containerd-${id('b')}.scope`, id('a')), false);
  });

  test('found under the systemd and the cgroupfs layouts; cpu.stat read from there', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'meshbench-cgroup-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const systemd = join(root, 'kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod1234.slice', `cri-containerd-${id('a')}.scope`);
    const cgroupfs = join(root, 'kubepods/besteffort/pod5678', id('b'));
    const later = join(root, 'kubepods/besteffort/pod9', id('c'));
    for (const dir of [systemd, cgroupfs]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(systemd, 'cpu.stat'), 'usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n');
    const index = indexContainerCgroups(root);
    assert.equal(index.get(id('a')), systemd);
    assert.equal(index.get(id('b')), cgroupfs);
    const finder = new CgroupFinder(root);
    assert.equal(finder.find(`containerd://${id('a')}`), systemd);
    mkdirSync(later, { recursive: true });
    assert.equal(finder.find(`containerd://${id('c')}`), later, 'a container started after the first walk is found on a second one');
    assert.throws(() => finder.find(`containerd://${id('d')}`), /no cgroup for container dddddddddddd/);
    assert.equal(cgroupCpuUsageUs(systemd), 1_234_567);
    assert.deepEqual(cpuSecondsBetween(new Map([['x', 1_000_000], ['gone', 5]]), new Map([['x', 3_500_000], ['new', 9]])), { x: 2.5 });
  });

  test("the agent's requests; its command line in the probe pod", () => {
    assert.deepEqual(parseAgentRequest('{"track":{"id":"server-1/server-app","containerId":"containerd://ab"}}'), {
      track: { id: 'server-1/server-app', containerId: 'containerd://ab' },
    });
    assert.deepEqual(parseAgentRequest('{"cpu":true}'), { cpu: true });
    assert.deepEqual(parseAgentRequest('{"stop":true}'), { stop: true });
    assert.throws(() => parseAgentRequest('{"track":{"id":""}}'), /track needs/);
    assert.throws(() => parseAgentRequest('{"reboot":true}'), /unknown request/);
    assert.deepEqual(agentArgv(['cpu', 'memory']), [
      'node', '--import', 'tsx', '/app/harness/platform/kubernetes/probeAgent.ts', '--probes', 'cpu,memory', '--cgroup-root', '/host/sys/fs/cgroup',
    ]);
  });
});

describe('names', () => {
  test('cell namespaces and label values', () => {
    assert.equal(cellNamespace('ab12c', 17), 'mb-ab12c-c17');
    assert.equal(isLabelValue('ebpf-l4-http1-s30-r100'), true);
    assert.equal(isLabelValue('x'.repeat(64)), false);
    assert.equal(isLabelValue('-x'), false);
  });

  test('clean finds run-named kind clusters only', () => {
    const listed = 'kind\nmeshbench-ab12c-kube\nmeshbench-ab12c-cilium\nmeshbench-zz999-kube\nmeshbench-dev\n';
    assert.deepEqual(runKindClusters(listed), [
      { name: 'meshbench-ab12c-kube', runId: 'ab12c' },
      { name: 'meshbench-ab12c-cilium', runId: 'ab12c' },
      { name: 'meshbench-zz999-kube', runId: 'zz999' },
    ]);
    assert.deepEqual(runKindClusters(listed, 'zz999'), [{ name: 'meshbench-zz999-kube', runId: 'zz999' }]);
  });
});

describe('tools and doctor', () => {
  const status = (present: Partial<Record<KubeTool, string>>): Record<KubeTool, ToolStatus> =>
    Object.fromEntries(KUBE_TOOLS.map((t) => [t, present[t] ? { tool: t, present: true, detail: present[t]! } : { tool: t, present: false, detail: `${t} is not on PATH` }])) as Record<KubeTool, ToolStatus>;

  test('kind needs a docker engine and kind; istioctl and cilium only for their meshes; kubernetes needs none', () => {
    assert.deepEqual(toolsNeeded('kind', ['baseline']).map((n) => n.tool), ['docker-engine', 'kind']);
    assert.deepEqual(toolsNeeded('kind', ['sidecar', 'ebpf-l4']).map((n) => n.tool), ['docker-engine', 'kind', 'istioctl', 'cilium']);
    assert.deepEqual(toolsNeeded('kubernetes', ['sidecar', 'ebpf']), []);
    assert.deepEqual(
      missingTools(toolsNeeded('kind', ['baseline']), status({ docker: '28.2.2', kind: '0.25.0' })).map((m) => m.tool),
      ['docker-engine'],
      'a docker client without an engine is not enough',
    );
  });

  test('a docker client whose engine is down is told apart from one that runs', async (t) => {
    const bin = mkdtempSync(join(tmpdir(), 'meshbench-bin-'));
    t.after(() => rmSync(bin, { recursive: true, force: true }));
    const fakeDocker = (script: string): void => {
      writeFileSync(join(bin, 'docker'), `#!/bin/sh\n${script}\n`);
      chmodSync(join(bin, 'docker'), 0o755);
    };
    const env = { ...process.env, PATH: `${bin}:/usr/bin:/bin` };
    fakeDocker('case "$1" in --version) echo "Docker version 28.2.2, build e6534b4";; info) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1;; esac');
    assert.deepEqual(await toolStatus('docker', env), { tool: 'docker', present: true, detail: '28.2.2' });
    const engine = await toolStatus('docker-engine', env);
    assert.equal(engine.present, false);
    assert.match(engine.detail, /Cannot connect to the Docker daemon/);
    fakeDocker('case "$1" in info) echo "27.3.1";; esac');
    assert.deepEqual(await toolStatus('docker-engine', env), { tool: 'docker-engine', present: true, detail: '27.3.1' });
    assert.deepEqual(await toolStatus('kind', { ...env, PATH: bin }), { tool: 'kind', present: false, detail: 'kind is not on PATH' });
  });

  test('doctor: every tool and the contexts, optional for local; a summary per platform', () => {
    const none = kubeChecks(status({ docker: '28.2.2' }), { files: [], contexts: [] });
    assert.deepEqual(none.map((c) => c.what), ['docker client', 'docker engine', 'kind', 'kubectl', 'istioctl', 'helm', 'cilium', 'kubeconfig contexts']);
    assert.ok(none.every((c) => !c.required), 'nothing of these stops the local platform');
    assert.deepEqual(kubePlatformSummary(none), ['kind platform: cannot run (missing docker engine, kind)', 'kubernetes platform: no kubeconfig context']);
    const some = kubeChecks(status({ docker: '1', 'docker-engine': '1', kind: '0.25.0', istioctl: '1.24.2' }), { files: ['/k'], contexts: ['lab'], current: 'lab' });
    assert.deepEqual(kubePlatformSummary(some), [
      'kind platform: ready for baseline, sidecar, ambient, waypoint; missing cilium (ebpf, ebpf-l4)',
      'kubernetes platform: needs a scenario with context: and image:; the cluster is checked when a run names it',
    ]);
  });

  test('kubeconfig contexts from KUBECONFIG', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-kubeconfig-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'config');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\n' +
        'users: [{name: u, user: {}}]\ncontexts: [{name: lab, context: {cluster: c, user: u}}, {name: prod, context: {cluster: c, user: u}}]\n',
    );
    assert.deepEqual(kubeconfigContexts({ KUBECONFIG: file }), { files: [file], contexts: ['lab', 'prod'], current: 'lab' });
    assert.deepEqual(kubeconfigContexts({ KUBECONFIG: join(dir, 'missing') }), { files: [], contexts: [] });
  });
});

describe('on this host, for real: no docker engine, no kind', () => {
  const engine = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
  const kind = spawnSync('sh', ['-c', 'command -v kind'], { stdio: 'ignore' }).status === 0;

  test('`meshbench run scenarios/quick-kind.yaml` exits 1 naming what is missing, and creates nothing', { skip: engine && kind ? 'docker and kind are here: npm run test:e2e-kind runs the real thing' : false }, (t) => {
    const out = mkdtempSync(join(tmpdir(), 'meshbench-out-'));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const runs = join(out, 'runs');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli/main.ts', 'run', 'scenarios/quick-kind.yaml', '--out', runs], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot run platform kind on this host, nothing was created/);
    if (!engine) assert.match(r.stderr, /docker engine \(kind runs cluster nodes as containers/);
    if (!kind) assert.match(r.stderr, /\n {2}kind \(creates and deletes the clusters\): /);
    assert.equal(existsSync(runs), false, 'no run directory');
    assert.deepEqual(readdirSync(out), []);
  });

  test('platform kubernetes with an unknown context: exit 1, nothing created', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshbench-k8s-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const scenario = join(dir, 'k.yaml');
    writeFileSync(scenario, 'name: k\nplatform: kubernetes\ncontext: nowhere\nimage: m:1\nservices: [1]\nload: {rate: 10, duration: 1s}\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli/main.ts', 'run', scenario, '--out', join(dir, 'runs')], {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: join(dir, 'no-such-kubeconfig') },
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /no kubeconfig \(KUBECONFIG or ~\/\.kube\/config\) to find context "nowhere" in/);
    assert.equal(existsSync(join(dir, 'runs')), false);
  });
});
