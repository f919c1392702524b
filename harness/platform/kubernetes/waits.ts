// What "ready" means for each thing a run waits on, as pure checks over the objects a
// Watch delivers (kube.ts waitFor): every check says done, what it still waits for, or why
// waiting is pointless (a failed Job, a crash-looping pod).
import type { V1DaemonSet, V1Deployment, V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { DONE, failed, waiting, type WaitState } from './kube.ts';

function nodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** `count` nodes, all Ready (a Cilium cluster's nodes turn Ready once its CNI runs). */
export function nodesReady(count: number): (nodes: V1Node[]) => WaitState {
  return (nodes) => {
    const ready = nodes.filter(nodeReady).length;
    return nodes.length >= count && ready === nodes.length ? DONE : waiting(`${ready} of ${count} nodes Ready`);
  };
}

/** Every Deployment (at least `count`) has rolled out all its replicas and they are available. */
export function deploymentsAvailable(count: number): (deployments: V1Deployment[]) => WaitState {
  return (deployments) => {
    const pending = deployments.filter((d) => {
      const want = d.spec?.replicas ?? 1;
      const s = d.status;
      return !(
        (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
        (s?.updatedReplicas ?? 0) === want &&
        (s?.availableReplicas ?? 0) === want
      );
    });
    if (deployments.length >= count && pending.length === 0) return DONE;
    const names = pending.slice(0, 5).map((d) => d.metadata?.name).join(', ');
    return waiting(`${deployments.length - pending.length} of ${count} deployments available${names ? ` (waiting for ${names}${pending.length > 5 ? ', …' : ''})` : ''}`);
  };
}

/** Every DaemonSet (at least `count`) has a ready, up-to-date pod on each node it targets. */
export function daemonSetsReady(count: number): (sets: V1DaemonSet[]) => WaitState {
  return (sets) => {
    const pending = sets.filter((d) => {
      const s = d.status;
      return !(
        (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
        (s?.desiredNumberScheduled ?? 0) > 0 &&
        s?.numberReady === s?.desiredNumberScheduled &&
        (s?.updatedNumberScheduled ?? 0) === s?.desiredNumberScheduled
      );
    });
    if (sets.length >= count && pending.length === 0) return DONE;
    return waiting(
      pending.map((d) => `${d.metadata?.name}: ${d.status?.numberReady ?? 0}/${d.status?.desiredNumberScheduled ?? '?'} ready`).join(', ') ||
        `${sets.length} of ${count} daemonsets seen`,
    );
  };
}

/** Waiting reasons that will not fix themselves. */
const HOPELESS = ['ErrImagePull', 'ImagePullBackOff', 'CrashLoopBackOff', 'CreateContainerConfigError', 'InvalidImageName', 'CreateContainerError'];

/** Why a pod will never become ready, if it will not. */
export function podHopeless(pod: V1Pod): string | undefined {
  for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const reason = s.state?.waiting?.reason;
    if (reason && HOPELESS.includes(reason)) return `pod ${pod.metadata?.name} container ${s.name}: ${reason}${s.state?.waiting?.message ? ` (${s.state.waiting.message})` : ''}`;
  }
  return undefined;
}

/** No pod of the selection is stuck beyond repair (used alongside deployment waits). */
export function podsNotHopeless(pods: V1Pod[]): WaitState {
  for (const pod of pods) {
    const why = podHopeless(pod);
    if (why) return failed(why);
  }
  return waiting('pods starting');
}

/**
 * The driver's container has started (or already ended), so its log can be read. Not the
 * pod phase: with a native sidecar the pod can be Running while the driver still waits.
 */
export function podStarted(pods: V1Pod[], container = 'load-driver'): WaitState {
  const pod = pods[0];
  if (!pod) return waiting(`no ${container} pod yet`);
  const why = podHopeless(pod);
  if (why) return failed(why);
  const state = pod.status?.containerStatuses?.find((s) => s.name === container)?.state;
  if (state?.running || state?.terminated) return DONE;
  return waiting(`${container} in pod ${pod.metadata?.name} has not started (pod ${pod.status?.phase ?? 'pending'})`);
}

/** The Job has finished; a failed Job is done too (its log says why), only a stuck one is waited on. */
export function jobFinished(jobs: V1Job[]): WaitState {
  const job = jobs[0];
  if (!job) return waiting('no job yet');
  const finished = job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  return finished ? DONE : waiting(`job ${job.metadata?.name}: ${job.status?.active ?? 0} active`);
}

export function jobFailure(job: V1Job): string | undefined {
  const c = job.status?.conditions?.find((x) => x.type === 'Failed' && x.status === 'True');
  return c ? `${c.reason ?? 'Failed'}${c.message ? `: ${c.message}` : ''}` : undefined;
}
