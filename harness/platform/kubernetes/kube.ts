// The harness's Kubernetes API client: server-side apply of validated objects, waits that
// follow the API (list, then Watch from that resourceVersion; never sleeps), logs, exec
// into a container, and the kubelet's and pods' metrics through the API server's proxy.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import {
  ApiException, CoreV1Api, Exec, KubeConfig, KubernetesObjectApi, Log, PatchStrategy, VersionApi, Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { HostError } from '../../errors.ts';
import { FIELD_MANAGER } from './names.ts';

/** What a wait's check says about the objects it sees. */
export type WaitState = { state: 'done' } | { state: 'waiting'; why: string } | { state: 'failed'; why: string };
export const DONE: WaitState = { state: 'done' };
export const waiting = (why: string): WaitState => ({ state: 'waiting', why });
export const failed = (why: string): WaitState => ({ state: 'failed', why });

/** The kinds the harness waits on, with their API paths. */
const RESOURCES = {
  Node: { apiVersion: 'v1', plural: 'nodes', namespaced: false },
  Namespace: { apiVersion: 'v1', plural: 'namespaces', namespaced: false },
  Pod: { apiVersion: 'v1', plural: 'pods', namespaced: true },
  Service: { apiVersion: 'v1', plural: 'services', namespaced: true },
  Deployment: { apiVersion: 'apps/v1', plural: 'deployments', namespaced: true },
  DaemonSet: { apiVersion: 'apps/v1', plural: 'daemonsets', namespaced: true },
  Job: { apiVersion: 'batch/v1', plural: 'jobs', namespaced: true },
} as const;
export type WatchedKind = keyof typeof RESOURCES;

export interface Scope {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** `/apis/apps/v1/namespaces/ns/deployments`, `/api/v1/nodes`. */
export function watchPath(kind: WatchedKind, namespace?: string): string {
  const r = RESOURCES[kind];
  const base = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  return r.namespaced && namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

function objectKey(o: KubernetesObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body = typeof error.body === 'string' ? error.body : JSON.stringify(error.body);
    try {
      return `HTTP ${error.code}: ${(JSON.parse(body) as { message?: string }).message ?? body}`;
    } catch {
      return `HTTP ${error.code}: ${body.slice(0, 300)}`;
    }
  }
  return (error as Error).message;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

export interface ExecSession {
  /** Writes one line to the process's stdin. */
  writeLine(line: string): void;
  /** Resolves with the next stdout line (in order); rejects when the stream ends or on timeout. */
  nextLine(timeoutMs: number): Promise<string>;
  stderrTail(): string;
  close(): void;
}

export class KubeClient {
  readonly core: CoreV1Api;
  readonly objects: KubernetesObjectApi;
  private readonly watcher: Watch;

  private constructor(
    readonly kc: KubeConfig,
    readonly context: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.watcher = new Watch(kc);
  }

  /**
   * A client for one context: of the given kubeconfig file (a kind run's own), or of the
   * user's kubeconfig (KUBECONFIG or ~/.kube/config). Never in-cluster or localhost defaults.
   */
  static forContext(context: string, kubeconfigFile?: string): KubeClient {
    const kc = new KubeConfig();
    if (kubeconfigFile) kc.loadFromFile(kubeconfigFile);
    else {
      // loadFromDefault() would fall back to in-cluster or localhost settings: never guess a cluster.
      const files = (process.env.KUBECONFIG ? process.env.KUBECONFIG.split(delimiter) : [join(homedir(), '.kube', 'config')]).filter((f) => f && existsSync(f));
      if (files.length === 0) throw new HostError(`no kubeconfig (KUBECONFIG or ~/.kube/config) to find context "${context}" in`);
      kc.loadFromDefault();
    }
    if (!kc.getContexts().some((c) => c.name === context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new HostError(
        `kubeconfig context "${context}" not found${kubeconfigFile ? ` in ${kubeconfigFile}` : ''} (contexts: ${known.length ? known.join(', ') : 'none'})`,
      );
    }
    kc.setCurrentContext(context);
    return new KubeClient(kc, context);
  }

  async serverVersion(): Promise<string> {
    const info = await this.kc.makeApiClient(VersionApi).getCode();
    return info.gitVersion.replace(/^v/, '');
  }

  /** Server-side apply, one object after another in the given order (namespace first). */
  async apply(objects: ReadonlyArray<Record<string, unknown>>, options: { dryRun?: boolean } = {}): Promise<void> {
    for (const object of objects) {
      const spec = object as unknown as KubernetesObject;
      try {
        await this.objects.patch(spec, undefined, options.dryRun ? 'All' : undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      } catch (error) {
        throw new HostError(`server-side apply of ${spec.kind} ${objectKey(spec)} failed: ${apiMessage(error)}`);
      }
    }
  }

  /**
   * Waits until `check` says done for the objects of a kind in a scope: lists them, then
   * watches from the list's resourceVersion, re-checking on every event; a closed or
   * expired watch is re-listed. Rejects on `failed`, on timeout (with the last reason it
   * was still waiting) and on abort.
   */
  waitFor<T extends KubernetesObject>(
    kind: WatchedKind,
    scope: Scope,
    check: (items: T[]) => WaitState,
    options: { what: string; timeoutMs: number; signal?: AbortSignal },
  ): Promise<T[]> {
    const r = RESOURCES[kind];
    return new Promise<T[]>((resolve, reject) => {
      let settled = false;
      let lastWhy = 'nothing listed yet';
      let controller: AbortController | undefined;
      let retry: NodeJS.Timeout | undefined;
      const finish = (error: Error | undefined, items?: T[]): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(retry);
        controller?.abort();
        options.signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(items!);
      };
      const onAbort = (): void => finish(new Error(`aborted while waiting for ${options.what}`));
      const timer = setTimeout(
        () => finish(new HostError(`timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${options.what}: ${lastWhy}`)),
        options.timeoutMs,
      );
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const evaluate = (items: Map<string, T>): void => {
        const verdict = check([...items.values()]);
        if (verdict.state === 'done') finish(undefined, [...items.values()]);
        else if (verdict.state === 'failed') finish(new HostError(`${options.what}: ${verdict.why}`));
        else lastWhy = verdict.why;
      };
      const again = (delayMs: number): void => {
        if (!settled) retry = setTimeout(() => void cycle(), delayMs);
      };
      const cycle = async (): Promise<void> => {
        if (settled) return;
        try {
          const list = await this.objects.list<T>(
            r.apiVersion, kind, r.namespaced ? scope.namespace : undefined,
            undefined, undefined, undefined, scope.fieldSelector, scope.labelSelector,
          );
          const items = new Map<string, T>(list.items.map((item) => [objectKey(item), item]));
          evaluate(items);
          if (settled) return;
          const query: Record<string, string | boolean> = { allowWatchBookmarks: true };
          if (list.metadata?.resourceVersion) query.resourceVersion = list.metadata.resourceVersion;
          if (scope.labelSelector) query.labelSelector = scope.labelSelector;
          if (scope.fieldSelector) query.fieldSelector = scope.fieldSelector;
          controller = await this.watcher.watch(
            watchPath(kind, scope.namespace),
            query,
            (phase: string, object: T) => {
              if (phase === 'ADDED' || phase === 'MODIFIED') items.set(objectKey(object), object);
              else if (phase === 'DELETED') items.delete(objectKey(object));
              else return; // BOOKMARK; ERROR (e.g. 410 Gone) ends the watch and is re-listed
              evaluate(items);
            },
            // The server closes watches after a while: list again and carry on.
            (error: unknown) => again(error ? 1000 : 0),
          );
        } catch (error) {
          lastWhy = `API error: ${apiMessage(error)}`;
          again(2000);
        }
      };
      void cycle();
    });
  }

  /** Deletes a namespace (and with it everything in it) and waits until it is gone. */
  async deleteNamespace(name: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    try {
      await this.core.deleteNamespace({ name, propagationPolicy: 'Background' });
    } catch (error) {
      if (isNotFound(error)) return;
      throw new HostError(`deleting namespace ${name} failed: ${apiMessage(error)}`);
    }
    await this.waitFor('Namespace', { fieldSelector: `metadata.name=${name}` }, (items) =>
      items.length === 0 ? DONE : waiting(`namespace ${name} is ${items[0]!.metadata?.deletionTimestamp ? 'terminating' : 'still there'}`),
    { what: `namespace ${name} to be deleted`, ...options });
  }

  /** Namespaces carrying a label selector (e.g. every run's, or one run's). */
  async namespaces(labelSelector: string): Promise<string[]> {
    const list = await this.core.listNamespace({ labelSelector });
    return list.items.map((n) => n.metadata!.name!);
  }

  /** A container's whole log (after it ended). */
  async podLog(namespace: string, pod: string, container: string): Promise<string> {
    return this.core.readNamespacedPodLog({ name: pod, namespace, container });
  }

  /** Follows a container's log line by line until it ends (or the signal aborts). */
  async followLog(namespace: string, pod: string, container: string, onLine: (line: string) => void, signal?: AbortSignal): Promise<void> {
    const stream = new PassThrough();
    const lines = createInterface({ input: stream });
    lines.on('line', onLine);
    const ended = new Promise<void>((resolve) => stream.once('end', resolve).once('close', resolve));
    const controller = await new Log(this.kc).log(namespace, pod, container, stream, { follow: true });
    const onAbort = (): void => {
      controller.abort();
      stream.end();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await ended;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      lines.close();
    }
  }

  /** Runs argv in a container with stdin/stdout attached, for line-by-line dialogue. */
  async exec(namespace: string, pod: string, container: string, argv: string[]): Promise<ExecSession> {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let stderrText = '';
    stderr.setEncoding('utf8').on('data', (d: string) => (stderrText = (stderrText + d).slice(-8192)));
    const queue: string[] = [];
    const waiters: Array<{ resolve: (l: string) => void; reject: (e: Error) => void }> = [];
    let closed: Error | undefined;
    createInterface({ input: stdout })
      .on('line', (line) => {
        const waiter = waiters.shift();
        if (waiter) waiter.resolve(line);
        else queue.push(line);
      })
      .on('close', () => {
        closed = new Error(`exec ${argv.join(' ')} in ${namespace}/${pod} ended${stderrText.trim() ? `: ${stderrText.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
        for (const w of waiters.splice(0)) w.reject(closed);
      });
    const socket = await new Exec(this.kc).exec(namespace, pod, container, argv, stdout, stderr, stdin, false);
    return {
      writeLine: (line) => void stdin.write(`${line}\n`),
      nextLine: (timeoutMs) => {
        const line = queue.shift();
        if (line !== undefined) return Promise.resolve(line);
        if (closed) return Promise.reject(closed);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer from ${argv.join(' ')} in ${pod} within ${timeoutMs} ms`)), timeoutMs);
          waiters.push({
            resolve: (l) => { clearTimeout(timer); resolve(l); },
            reject: (e) => { clearTimeout(timer); reject(e); },
          });
        });
      },
      stderrTail: () => stderrText,
      close: () => {
        stdin.end();
        socket.close();
      },
    };
  }

  /** GET on a pod's port through the API server (metrics endpoints). */
  async podGet(namespace: string, pod: string, port: number, path: string): Promise<string> {
    return this.core.connectGetNamespacedPodProxyWithPath({ name: `${pod}:${port}`, namespace, path: path.replace(/^\//, '') });
  }
}

/**
 * Sums the samples of a Prometheus counter whose labels include `labels` (text exposition
 * format). `name{a="1",b="2"} 42` lines; comments and other metrics are skipped.
 */
export function sumPrometheusCounter(text: string, metric: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== metric) continue;
    const sampleLabels: Record<string, string> = {};
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) sampleLabels[pair[1]!] = pair[2]!;
    if (Object.entries(labels).every(([k, v]) => sampleLabels[k] === v)) {
      const value = Number(match[4]);
      if (Number.isFinite(value)) total += value;
    }
  }
  return total;
}
