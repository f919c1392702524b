// A FAKE Kubernetes API server, in-process, over loopback HTTP — no cluster is reachable on
// this host, so the kubernetes platform's whole run is tested against this instead (the
// nightly kind job is the real check). It speaks enough of the API for
// @kubernetes/client-node to do what the harness does: discovery, server-side apply, list
// and watch (with resourceVersion replay), get, namespace deletion, pod logs (followed),
// the pod proxy (metrics) and exec over WebSocket (v5.channel.k8s.io).
//
// What is fake, said plainly:
//   - A "controller" in here makes every Deployment, DaemonSet and Job pod Running at once
//     on the fake nodes; no container runs. Namespaces labelled istio-injection=enabled get
//     an istio-proxy native sidecar in every pod (standing in for Istio's webhook).
//   - The load driver's Job does not run a driver: the fake plays the pod's log — a
//     `{"phase":"measure"}` line, then the LoadOutcome the test hands it (`outcomeFor`) —
//     and completes the Job.
//   - Path counters: when the Job completes, the fake adds the outcome's request count to
//     the istio_requests_total of every pod with an injected istio-proxy (client: reporter
//     source, servers: destination) and, when the namespace has a CiliumNetworkPolicy with
//     HTTP rules, to cilium_policy_l7_total{rule="forwarded"} of the Cilium agent pods.
//   - The probe agent exec'd into the probe pod is this file's script: it answers `track`,
//     `cpu` (FAKE_CPU_US_PER_READ µs more for every component at every read), `start` and
//     `stop` (no eBPF figures: "the fake API server runs no eBPF").
// It records every object created and deleted (created/deleted), for the test to check.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import YAML from 'yaml';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec?: any;
  status?: any;
  [k: string]: unknown;
};

interface Resource {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const RESOURCES: Resource[] = [
  { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  { apiVersion: 'v1', kind: 'Node', plural: 'nodes', namespaced: false },
  { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true },
  { apiVersion: 'batch/v1', kind: 'Job', plural: 'jobs', namespaced: true },
  { apiVersion: 'security.istio.io/v1beta1', kind: 'PeerAuthentication', plural: 'peerauthentications', namespaced: true },
  { apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', plural: 'destinationrules', namespaced: true },
  { apiVersion: 'networking.istio.io/v1beta1', kind: 'Sidecar', plural: 'sidecars', namespaced: true },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', plural: 'ciliumnetworkpolicies', namespaced: true },
];

/** CPU µs the fake probe agent adds to every tracked component at every `cpu` read. */
export const FAKE_CPU_US_PER_READ = 5_000;
export const FAKE_KUBERNETES_VERSION = '1.31.2-fake';
export const FAKE_NODES = ['fake-node-a'];

export interface FakeObjectRecord {
  kind: string;
  namespace?: string;
  name: string;
}

export interface FakeOptions {
  /** The LoadOutcome the driver Job's log ends with, given the Job's namespace labels. */
  outcomeFor: (namespaceLabels: Record<string, string>) => Record<string, unknown> & { requests: number };
  /** How long the fake driver "warms up" and "measures" before its lines appear. */
  warmupMs?: number;
  measureMs?: number;
}

interface Watcher {
  resource: Resource;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  res: ServerResponse;
}

interface LogFollower {
  key: string;
  res: ServerResponse;
}

const key = (r: Resource, namespace: string | undefined, name: string): string => `${r.apiVersion}|${r.kind}|${namespace ?? ''}|${name}`;

function matchesLabels(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').filter(Boolean).every((term) => {
    const [k, v] = term.split('=');
    return v === undefined ? labels?.[k!] !== undefined : labels?.[k!] === v;
  });
}

function matchesFields(o: Obj, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').filter(Boolean).every((term) => {
    const [k, v] = term.split('=');
    if (k === 'metadata.name') return o.metadata.name === v;
    if (k === 'metadata.namespace') return o.metadata.namespace === v;
    return false;
  });
}

const containerId = (): string => `containerd://${randomBytes(32).toString('hex')}`;

export class FakeKubeApiServer {
  /** Every object created (server-side apply of a new object, or by the fake's controller). */
  readonly created: FakeObjectRecord[] = [];
  /** Every object deleted (namespace deletion deletes what is in it). */
  readonly deleted: FakeObjectRecord[] = [];
  private readonly objects = new Map<string, Obj>();
  private readonly events: Array<{ rv: number; type: string; object: Obj; resource: Resource }> = [];
  private readonly watchers = new Set<Watcher>();
  private readonly logs = new Map<string, string>();
  private readonly followers = new Set<LogFollower>();
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sockets = new Set<Socket>();
  private server?: Server;
  private rv = 1;
  private nextIp = 10;

  constructor(private readonly options: FakeOptions) {
    for (const node of FAKE_NODES) {
      this.put(this.res('Node'), {
        apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'kubernetes.io/hostname': node } },
        spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] },
      }, false);
    }
    // What an existing cluster with Istio and Cilium (kube-proxy replacement, its Envoy as a DaemonSet) shows.
    this.put(this.res('Deployment'), {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'istiod', namespace: 'istio-system' },
      spec: { replicas: 1, template: { spec: { containers: [{ name: 'discovery', image: 'docker.io/istio/pilot:1.24.2' }] } } }, status: {},
    }, false);
    for (const [name, image, labels] of [
      ['cilium', 'quay.io/cilium/cilium:v1.16.5', { 'k8s-app': 'cilium' }],
      ['cilium-envoy', 'quay.io/cilium/cilium-envoy:v1.16.5', { 'k8s-app': 'cilium-envoy' }],
    ] as const) {
      this.put(this.res('DaemonSet'), {
        apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name, namespace: 'kube-system', labels: { ...labels } },
        spec: { template: { metadata: { labels: { ...labels } }, spec: { containers: [{ name, image }] } } }, status: {},
      }, false);
      this.podsFor('kube-system', name, { ...labels }, [name], FAKE_NODES);
    }
    this.put(this.res('ConfigMap'), {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' },
      data: { 'kube-proxy-replacement': 'true', 'enable-l7-proxy': 'true' },
    }, false);
  }

  /** Starts listening on 127.0.0.1 and writes a kubeconfig with one context for it. */
  async start(dir: string, context = 'fake-apiserver'): Promise<{ url: string; kubeconfig: string; context: string }> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((error: Error) => this.send(res, 500, status(500, error.message))));
    this.server.on('upgrade', (req, socket) => this.upgrade(req, socket as Socket));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    const kubeconfig = join(dir, 'kubeconfig-fake');
    writeFileSync(kubeconfig, YAML.stringify({
      apiVersion: 'v1', kind: 'Config',
      // client-node refuses plain HTTP unless TLS verification is off: there is no TLS on loopback here.
      clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: { token: 'fake-token' } }],
      contexts: [{ name: context, context: { cluster: 'fake', user: 'fake' } }],
      'current-context': context,
    }));
    return { url, kubeconfig, context };
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const w of this.watchers) w.res.end();
    for (const f of this.followers) f.res.end();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Objects of a kind still there (e.g. namespaces labelled with a run). */
  list(kind: string, labelSelector?: string): Obj[] {
    const r = this.res(kind);
    return [...this.objects.values()].filter((o) => o.kind === r.kind && o.apiVersion === r.apiVersion && matchesLabels(o.metadata.labels, labelSelector));
  }

  // ---------------------------------------------------------------------------------------
  // Storage

  private res(kind: string, apiVersion?: string): Resource {
    const r = RESOURCES.find((x) => x.kind === kind && (!apiVersion || x.apiVersion === apiVersion));
    if (!r) throw new Error(`the fake API server has no kind ${apiVersion ?? ''} ${kind}`);
    return r;
  }

  private put(r: Resource, o: Obj, record = true): Obj {
    const k = key(r, o.metadata.namespace, o.metadata.name);
    const existing = this.objects.get(k);
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid ??= (existing?.metadata.uid as string | undefined) ?? randomBytes(8).toString('hex');
    o.metadata.creationTimestamp ??= (existing?.metadata.creationTimestamp as string | undefined) ?? new Date().toISOString();
    o.metadata.generation ??= 1;
    this.objects.set(k, o);
    if (!existing && record) this.created.push({ kind: o.kind, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}), name: o.metadata.name });
    this.notify(r, existing ? 'MODIFIED' : 'ADDED', o);
    return o;
  }

  private remove(r: Resource, o: Obj): void {
    this.objects.delete(key(r, o.metadata.namespace, o.metadata.name));
    this.deleted.push({ kind: o.kind, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}), name: o.metadata.name });
    o.metadata.resourceVersion = String(++this.rv);
    this.notify(r, 'DELETED', o);
  }

  private notify(resource: Resource, type: string, object: Obj): void {
    const event = { rv: this.rv, type, object: structuredClone(object), resource };
    this.events.push(event);
    for (const w of this.watchers) this.sendEvent(w, event);
  }

  private sendEvent(w: Watcher, e: { type: string; object: Obj; resource: Resource }): void {
    if (e.resource !== w.resource) return;
    if (w.namespace && e.object.metadata.namespace !== w.namespace) return;
    if (!matchesLabels(e.object.metadata.labels, w.labelSelector) || !matchesFields(e.object, w.fieldSelector)) return;
    w.res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  // ---------------------------------------------------------------------------------------
  // The fake controller

  private injects(namespace: string): boolean {
    return this.objects.get(key(this.res('Namespace'), undefined, namespace))?.metadata.labels?.['istio-injection'] === 'enabled';
  }

  private podsFor(namespace: string, owner: string, labels: Record<string, string>, containers: string[], nodes: string[], inject = false): Obj[] {
    return nodes.map((node, i) => this.put(this.res('Pod'), {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `${owner}-fake${nodes.length > 1 ? `-${i}` : ''}`, namespace, labels: { ...labels } },
      spec: { nodeName: node, containers: containers.map((name) => ({ name })) },
      status: {
        phase: 'Running',
        containerStatuses: containers.map((name) => ({ name, containerID: containerId(), ready: true, restartCount: 0, image: 'fake', imageID: 'fake', state: { running: { startedAt: new Date().toISOString() } } })),
        ...(inject ? { initContainerStatuses: [{ name: 'istio-proxy', containerID: containerId(), ready: true, restartCount: 0, image: 'fake', imageID: 'fake', state: { running: { startedAt: new Date().toISOString() } } }] } : {}),
      },
    }));
  }

  private nodeOf(spec: any): string {
    return spec?.nodeName ?? spec?.nodeSelector?.['kubernetes.io/hostname'] ?? FAKE_NODES[0]!;
  }

  private reconcile(o: Obj): void {
    const ns = o.metadata.namespace;
    const template = o.spec?.template;
    const containers = (template?.spec?.containers ?? []).map((c: { name: string }) => c.name);
    if (o.kind === 'Namespace') o.status = { phase: 'Active' };
    if (o.kind === 'Service' && !o.spec.clusterIP) o.spec.clusterIP = `10.96.0.${this.nextIp++}`;
    if (o.kind === 'Deployment') {
      const replicas = o.spec.replicas ?? 1;
      for (let i = 0; i < replicas; i++) this.podsFor(ns!, `${o.metadata.name}${replicas > 1 ? `-${i}` : ''}`, template.metadata.labels, containers, [this.nodeOf(template.spec)], this.injects(ns!));
      o.status = { observedGeneration: o.metadata.generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas };
    }
    if (o.kind === 'DaemonSet') {
      this.podsFor(ns!, o.metadata.name, template.metadata.labels, containers, FAKE_NODES);
      const n = FAKE_NODES.length;
      o.status = { observedGeneration: o.metadata.generation, desiredNumberScheduled: n, currentNumberScheduled: n, numberReady: n, updatedNumberScheduled: n, numberMisscheduled: 0 };
    }
    if (o.kind === 'Job') this.playJob(o, template, containers);
  }

  /** The driver Job: a pod whose log the fake plays, then the Job completes and the path counters move. */
  private playJob(job: Obj, template: any, containers: string[]): void {
    const ns = job.metadata.namespace!;
    const [pod] = this.podsFor(ns, job.metadata.name, { ...template.metadata.labels, 'job-name': job.metadata.name }, containers, [this.nodeOf(template.spec)], this.injects(ns));
    job.status = { active: 1, startTime: new Date().toISOString() };
    const logKey = `${ns}/${pod!.metadata.name}`;
    const namespaceLabels = this.objects.get(key(this.res('Namespace'), undefined, ns))?.metadata.labels ?? {};
    const outcome = this.options.outcomeFor(namespaceLabels);
    this.after(this.options.warmupMs ?? 200, () => {
      this.appendLog(logKey, `${JSON.stringify({ phase: 'measure' })}\n`);
      this.after(this.options.measureMs ?? 300, () => {
        this.appendLog(logKey, `${JSON.stringify(outcome)}\n`);
        this.countRequests(ns, outcome.requests);
        const current = this.objects.get(key(this.res('Pod'), ns, pod!.metadata.name));
        if (current) {
          for (const s of current.status.containerStatuses) if (s.name === 'load-driver') s.state = { terminated: { exitCode: 0, reason: 'Completed' } };
          this.put(this.res('Pod'), current);
        }
        for (const f of [...this.followers]) if (f.key === logKey) {
          f.res.end();
          this.followers.delete(f);
        }
        const j = this.objects.get(key(this.res('Job'), ns, job.metadata.name));
        if (j) {
          j.status = { succeeded: 1, completionTime: new Date().toISOString(), conditions: [{ type: 'Complete', status: 'True' }] };
          this.put(this.res('Job'), j);
        }
      });
    });
  }

  private appendLog(logKey: string, text: string): void {
    this.logs.set(logKey, (this.logs.get(logKey) ?? '') + text);
    for (const f of this.followers) if (f.key === logKey) f.res.write(text);
  }

  private countRequests(namespace: string, requests: number): void {
    const add = (pod: Obj, sample: string): void => {
      const k = `${pod.metadata.namespace}/${pod.metadata.name}`;
      const m = this.counters.get(k) ?? new Map<string, number>();
      m.set(sample, (m.get(sample) ?? 0) + requests);
      this.counters.set(k, m);
    };
    for (const pod of this.list('Pod').filter((p) => p.metadata.namespace === namespace)) {
      if (!pod.status.initContainerStatuses?.some((s: { name: string }) => s.name === 'istio-proxy')) continue;
      add(pod, pod.metadata.labels?.['meshbench.io/role'] === 'client' ? 'istio_requests_total{reporter="source"}' : 'istio_requests_total{reporter="destination"}');
    }
    const l7 = this.list('CiliumNetworkPolicy').some((p) => p.metadata.namespace === namespace && JSON.stringify(p.spec).includes('"http"'));
    if (l7) for (const agent of this.list('Pod', 'k8s-app=cilium')) add(agent, 'cilium_policy_l7_total{rule="forwarded"}');
  }

  // ---------------------------------------------------------------------------------------
  // HTTP

  private send(res: ServerResponse, code: number, body: unknown, type = 'application/json'): void {
    if (res.headersSent) return void res.end();
    res.writeHead(code, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, 'http://fake');
    if (process.env.FAKE_KUBE_DEBUG) process.stderr.write(`fake: ${req.method} ${req.url}\n`);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (url.pathname === '/version') {
      return this.send(res, 200, { major: '1', minor: '31', gitVersion: `v${FAKE_KUBERNETES_VERSION}`, gitCommit: 'fake', gitTreeState: 'clean', buildDate: '2024-01-01T00:00:00Z', goVersion: 'go1.22', compiler: 'gc', platform: 'linux/amd64' });
    }
    const grouped = parts[0] === 'apis';
    const apiVersion = grouped ? `${parts[1]}/${parts[2]}` : parts[1];
    let rest = parts.slice(grouped ? 3 : 2);
    const inVersion = RESOURCES.filter((r) => r.apiVersion === apiVersion);
    if (inVersion.length === 0) return this.send(res, 404, status(404, `no API ${url.pathname}`));
    if (rest.length === 0) {
      return this.send(res, 200, {
        kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersion,
        resources: inVersion.map((r) => ({ name: r.plural, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'list', 'watch', 'patch', 'delete'] })),
      });
    }
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const resource = inVersion.find((r) => r.plural === rest[0]);
    if (!resource) return this.send(res, 404, status(404, `no resource ${rest[0]} in ${apiVersion}`));
    const [, rawName, sub, ...subPath] = rest;
    const body = req.method === 'PATCH' || req.method === 'POST' || req.method === 'DELETE' ? await readBody(req) : '';

    if (rawName === undefined) {
      if (req.method !== 'GET') return this.send(res, 405, status(405, `${req.method} on a collection`));
      const labelSelector = url.searchParams.get('labelSelector') ?? undefined;
      const fieldSelector = url.searchParams.get('fieldSelector') ?? undefined;
      if (url.searchParams.get('watch') === 'true') return this.watch(res, { resource, namespace, labelSelector, fieldSelector, res }, Number(url.searchParams.get('resourceVersion') ?? this.rv));
      const items = [...this.objects.values()].filter((o) =>
        o.kind === resource.kind && o.apiVersion === resource.apiVersion && (!namespace || o.metadata.namespace === namespace) &&
        matchesLabels(o.metadata.labels, labelSelector) && matchesFields(o, fieldSelector));
      return this.send(res, 200, { apiVersion, kind: `${resource.kind}List`, metadata: { resourceVersion: String(this.rv) }, items });
    }

    // pods/<name>:<port>/proxy/<path>: the pod proxy, to metrics endpoints
    const [name, port] = rawName.split(':');
    const current = this.objects.get(key(resource, resource.namespaced ? namespace : undefined, name!));
    if (sub === 'proxy' && resource.kind === 'Pod') {
      if (!current) return this.send(res, 404, status(404, `pod ${name} not found`));
      const samples = this.counters.get(`${namespace}/${name}`) ?? new Map<string, number>();
      const text = [`# fake metrics of ${name}:${port}/${subPath.join('/')}`, ...[...samples].map(([s, v]) => `${s} ${v}`)].join('\n');
      return this.send(res, 200, `${text}\n`, 'text/plain');
    }
    if (sub === 'log' && resource.kind === 'Pod') {
      const logKey = `${namespace}/${name}`;
      if (url.searchParams.get('follow') !== 'true') return this.send(res, 200, this.logs.get(logKey) ?? '', 'text/plain');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(this.logs.get(logKey) ?? '');
      const job = this.objects.get(key(this.res('Job'), namespace, name!.replace(/-fake$/, '')));
      if (job?.status?.succeeded) return void res.end();
      const follower = { key: logKey, res };
      this.followers.add(follower);
      req.on('close', () => this.followers.delete(follower));
      return;
    }
    if (req.method === 'GET') return current ? this.send(res, 200, current) : this.send(res, 404, status(404, `${resource.plural} "${name}" not found`));
    if (req.method === 'PATCH') {
      const applied = YAML.parse(body) as Obj;
      const object: Obj = { ...(current ?? {}), ...applied, metadata: { ...(current?.metadata ?? {}), ...applied.metadata, ...(resource.namespaced ? { namespace } : {}) } } as Obj;
      if (!resource.namespaced) delete object.metadata.namespace;
      object.metadata.generation = ((current?.metadata.generation as number | undefined) ?? 0) + 1;
      if (!current) this.reconcile(object);
      return this.send(res, current ? 200 : 201, this.put(resource, object));
    }
    if (req.method === 'DELETE') {
      if (!current) return this.send(res, 404, status(404, `${resource.plural} "${name}" not found`));
      if (resource.kind === 'Namespace') {
        for (const o of [...this.objects.values()]) if (o.metadata.namespace === name) this.remove(this.res(o.kind, o.apiVersion), o);
      }
      this.remove(resource, current);
      return this.send(res, 200, { ...current, status: { phase: 'Terminating' } });
    }
    return this.send(res, 405, status(405, `${req.method} not supported by the fake`));
  }

  private watch(res: ServerResponse, watcher: Watcher, sinceRv: number): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
    for (const e of this.events) if (e.rv > sinceRv) this.sendEvent(watcher, e);
  }

  // ---------------------------------------------------------------------------------------
  // exec over WebSocket: the fake probe agent

  private upgrade(req: IncomingMessage, socket: Socket): void {
    const wsKey = req.headers['sec-websocket-key'];
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!wsKey || !req.url?.includes('/exec?') || !offered.includes('v5.channel.k8s.io')) {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(`${wsKey}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io', '', ''].join('\r\n'));
    const say = (value: unknown): void => void socket.write(wsFrame(Buffer.concat([Buffer.from([1]), Buffer.from(`${JSON.stringify(value)}\n`)])));
    const tracked = new Map<string, number>();
    let stdin = '';
    let buffered = Buffer.alloc(0);
    say({ ready: true, probes: [], failed: {} });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const frame = readWsFrame(buffered);
        if (!frame) break;
        buffered = buffered.subarray(frame.length);
        if (frame.opcode === 8) return void socket.end(wsFrame(Buffer.alloc(0), 8));
        if (frame.payload[0] !== 0) continue; // stdin only; 255 = close of a stream
        stdin += frame.payload.subarray(1).toString('utf8');
        let newline: number;
        while ((newline = stdin.indexOf('\n')) >= 0) {
          const line = stdin.slice(0, newline);
          stdin = stdin.slice(newline + 1);
          const request = JSON.parse(line) as Record<string, any>;
          if (request.track) {
            tracked.set(request.track.id, 0);
            say({ ok: true, cgroupDir: `/fake/cgroup/${request.track.containerId}` });
          } else if (request.cpu) {
            for (const [id, us] of tracked) tracked.set(id, us + FAKE_CPU_US_PER_READ);
            say({ cpuUs: Object.fromEntries(tracked) });
          } else if (request.start) say({ ok: true });
          else if (request.stop) {
            say({ figures: null, failed: { ebpf: 'the fake API server runs no eBPF' } });
            socket.write(wsFrame(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ status: 'Success' }))])));
          } else say({ error: `unknown request ${line}` });
        }
      }
    });
    socket.on('error', () => {});
  }
}

function status(code: number, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code, reason: code === 404 ? 'NotFound' : 'BadRequest' };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

/** A server → client WebSocket frame (unmasked), binary unless told. */
function wsFrame(payload: Buffer, opcode = 2): Buffer {
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 255]) : (() => {
    const h = Buffer.alloc(10);
    h[0] = 0x80 | opcode;
    h[1] = 127;
    h.writeBigUInt64BE(BigInt(n), 2);
    return h;
  })();
  return Buffer.concat([header, payload]);
}

/** One client → server frame (masked) from the front of buf, or undefined when incomplete. */
function readWsFrame(buf: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (buf.length < 2) return undefined;
  const opcode = buf[0]! & 0x0f;
  const masked = (buf[1]! & 0x80) !== 0;
  let n = buf[1]! & 0x7f;
  let offset = 2;
  if (n === 126) {
    if (buf.length < 4) return undefined;
    n = buf.readUInt16BE(2);
    offset = 4;
  } else if (n === 127) {
    if (buf.length < 10) return undefined;
    n = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const maskLength = masked ? 4 : 0;
  if (buf.length < offset + maskLength + n) return undefined;
  const mask = buf.subarray(offset, offset + maskLength);
  const payload = Buffer.from(buf.subarray(offset + maskLength, offset + maskLength + n));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
  return { opcode, payload, length: offset + maskLength + n };
}
