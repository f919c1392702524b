// Where a request's latency goes, along its path, both directions — and where a mesh's
// extra cost over the baseline goes. Pure functions: probe figures and load outcomes in,
// figures out.
//
// The dwell probe times each message's first segment at the cell's sockets (bpf/dwell.bpf.c):
//   hop X → Y   = X's send path (send() entry → egress: TCP/IP, netfilter OUTPUT)
//               + transit (egress at X → ingress at Y, the same segment: veth/loopback,
//                 softirq, the node's forwarding, netfilter, conntrack)
//               + Y's wake-up (ingress → the read that returns it: wake-up, run-queue wait, recv)
//   residence Y = Y's time in user space, both directions:
//                 a proxy:      served − waited − its wake-ups − its send paths
//                 the server:   served − its wake-up − its send path
// served (request in → response out on an accepted socket) and waited (request out →
// response in on a connected socket) are paired per socket, so every figure is exact at
// any concurrency. The client app's kernel parts (its send path, its wake-up) are the first
// and last steps; what the kernel cannot see is the driver's own user space (from its
// intended send time to send(), from read() to its clock): the unattributed rest, which the
// tests bound (≤ 10 % at one connection, ≤ 20 % under load).
//
// The p50s: the median of each part's own distribution does not add up to the median
// request (the sum of medians of skewed parts lies below the median of the sum). Where the
// probes followed whole requests (ProbeFigures.medianRequest: the client app's requests that
// were alone in the cell, each request's parts kept together), each part's p50 figure is
// instead its mean over the requests around the median round trip, and those add up.
import { mergeHistograms, percentileUs } from '../probes/histogram.ts';
import type { ComponentProbeFigures, CpuTimes, HopFigures, LatencyFigures, MedianRequestFigures, PathKind, ProbeFigures } from '../probes/types.ts';
import type { ComponentRole } from '../mesh/types.ts';
import type { LoadOutcome } from '../results/types.ts';
import { REFERENCE_MESH, type MeshName, type Protocol } from '../scenario/types.ts';

export const PATH_ROLES: readonly ComponentRole[] = ['client-app', 'client-sidecar', 'node-proxy', 'server-sidecar', 'server-app'];
const FORWARDERS: ReadonlySet<ComponentRole> = new Set(['client-sidecar', 'node-proxy', 'server-sidecar']);

/** A figure as mean and median µs per request. */
export interface PartFigure {
  meanUs: number;
  p50Us: number;
}

export interface DecompositionPart {
  kind: 'hop' | 'residence';
  /** e.g. `client-app → client-sidecar` or `client-sidecar`. */
  label: string;
  direction: 'request' | 'response' | 'both';
  from?: ComponentRole;
  to?: ComponentRole;
  role?: ComponentRole;
  meanUs: number;
  p50Us: number;
  /** Hops: the send path at `from`, the transit, the wake-up at `to`. */
  send?: PartFigure;
  transit?: PartFigure;
  wake?: PartFigure;
  /** Samples the part's figures rest on (the smallest count among them). */
  samples: number;
}

export interface KernelCost {
  /** Per CPU the pods run on: kernel (system + softirq + irq) and softirq CPU µs per request (/proc/stat, tick-sampled). */
  podCpus: string;
  kernelUsPerRequest?: number;
  softirqUsPerRequest?: number;
  userUsPerRequest?: number;
  /** The data path's own BPF programs on the cell's cgroup (sock_lb), bpf_stats. */
  datapathBpf?: { programs: string[]; runNsPerRequest: number; runsPerRequest: number };
  /** Per role: kernel (system) CPU µs per request from cgroup cpu.stat. */
  systemUsPerRequestByRole?: Partial<Record<ComponentRole, number>>;
  /** Per role: run-queue wait µs per request from schedstat. */
  runQueueUsPerRequestByRole?: Partial<Record<ComponentRole, number>>;
}

export interface CellDecomposition {
  /** How the parts were measured, in one line, for the report. */
  method: string;
  /** Requests the probes saw complete at the client app (compare with the driver's count). */
  probeRequests: number;
  driverRequests: number;
  driver: PartFigure;
  /** The parts in path order: client app's send … server … back to the client app's read. */
  parts: DecompositionPart[];
  sum: PartFigure;
  /** driver − sum: the driver's own user space, which no kernel hook sees (and any error). */
  unattributed: PartFigure;
  hops: number;
  kernel?: KernelCost;
  /** The dwell probe's sampling: its figures are 1 in this many seconds' worth (1: all). */
  sampleEvery?: number;
  /**
   * Where the parts' p50 figures come from: `median requests` — each part's mean over the
   * `averaged` whole requests around the median round trip (of `requests` followed alone),
   * which add up; `part medians` — each part's own median, which do not.
   */
  p50?: { from: 'median requests'; requests: number; averaged: number } | { from: 'part medians'; why: string };
  notes: string[];
}

interface RoleFigures {
  path: Partial<Record<PathKind, { slots: Array<[number, number]>; sumNs: number; count: number }>>;
  systemSeconds?: number;
  runqWaitSeconds?: number;
}

function merge(into: RoleFigures['path'], kind: PathKind, f: LatencyFigures | undefined): void {
  if (!f || f.count === 0) return;
  const known = into[kind];
  const sumNs = f.meanUs * 1000 * f.count;
  into[kind] = known
    ? { slots: mergeHistograms(known.slots, f.histogram), sumNs: known.sumNs + sumNs, count: known.count + f.count }
    : { slots: f.histogram, sumNs, count: f.count };
}

function figureOf(h: { slots: Array<[number, number]>; sumNs: number; count: number } | undefined): (PartFigure & { count: number }) | undefined {
  if (!h || h.count === 0) return undefined;
  return { meanUs: h.sumNs / h.count / 1000, p50Us: percentileUs(h.slots, 0.5), count: h.count };
}

const zero = { meanUs: 0, p50Us: 0, count: Number.POSITIVE_INFINITY };
const round1 = (x: number): number => Math.round(x * 10) / 10;
const roundPart = (f: PartFigure): PartFigure => ({ meanUs: round1(f.meanUs), p50Us: round1(f.p50Us) });

export interface DecomposeInput {
  /** Per component id: its role and the probes' figures. */
  components: Record<string, ComponentProbeFigures & { role: ComponentRole }>;
  hops?: HopFigures[];
  hostCpus?: Record<string, CpuTimes>;
  datapathBpf?: ProbeFigures['datapathBpf'];
  /** CPUs the pods run on, e.g. "1" or "1-3". */
  podCpus?: string;
  load: Pick<LoadOutcome, 'latencyUs' | 'requests' | 'non2xx'>;
  sampleEvery?: number;
  /** Whole requests around the median (the probes' medianRequest), for p50s that add up. */
  medianRequest?: MedianRequestFigures;
  /**
   * The driver's own figure of how late it wrote each request after its intended send time
   * (open model; its accounting.schedulerLatenessUs): the client app's first residence,
   * before the kernel sees the send.
   */
  driverLateness?: PartFigure;
}

function cpuList(spec: string): string[] {
  return spec.split(',').flatMap((range) => {
    const [a, b] = range.split('-').map(Number);
    if (a === undefined || !Number.isInteger(a)) return [];
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => String(a + i));
  });
}

/** A cell's latency split along its path; undefined when the dwell probe's path figures are missing. */
export function decomposeCell(input: DecomposeInput): CellDecomposition | undefined {
  const roles = new Map<ComponentRole, RoleFigures>();
  const roleOf = new Map<string, ComponentRole>();
  for (const [id, c] of Object.entries(input.components)) {
    roleOf.set(id, c.role);
    const r = roles.get(c.role) ?? { path: {} };
    for (const kind of ['served', 'waited', 'wakeReq', 'wakeResp', 'txReq', 'txResp'] as const) merge(r.path, kind, c.path?.[kind]);
    if (c.systemSeconds !== undefined) r.systemSeconds = (r.systemSeconds ?? 0) + c.systemSeconds;
    if (c.runqueue) r.runqWaitSeconds = (r.runqWaitSeconds ?? 0) + c.runqueue.waitSeconds;
    roles.set(c.role, r);
  }
  const client = roles.get('client-app');
  const clientWaited = figureOf(client?.path.waited);
  if (!client || !clientWaited || !input.hops) return undefined;

  // Hops by role pair, merged over components (many server pods: one figure per role pair).
  const hopsByRoles = new Map<string, { slots: Array<[number, number]>; sumNs: number; count: number }>();
  for (const h of input.hops) {
    const from = roleOf.get(h.from);
    const to = roleOf.get(h.to);
    if (!from || !to) continue;
    const key = `${from}>${to}`;
    const known = hopsByRoles.get(key);
    const sumNs = h.transit.meanUs * 1000 * h.transit.count;
    hopsByRoles.set(key, known
      ? { slots: mergeHistograms(known.slots, h.transit.histogram), sumNs: known.sumNs + sumNs, count: known.count + h.transit.count }
      : { slots: h.transit.histogram, sumNs, count: h.transit.count });
  }

  const chain = PATH_ROLES.filter((r) => roles.has(r));
  const notes: string[] = [];
  const parts: DecompositionPart[] = [];
  const median = medianRequestsOf(input.medianRequest, clientWaited.count, roleOf);
  const get = (role: ComponentRole, kind: PathKind) => {
    const f = figureOf(roles.get(role)?.path[kind]) ?? zero;
    return median.by ? { ...f, p50Us: median.by.path.get(`${role}>${kind}`) ?? 0 } : f;
  };
  const hop = (from: ComponentRole, to: ComponentRole, direction: 'request' | 'response'): void => {
    const measured = figureOf(hopsByRoles.get(`${from}>${to}`));
    const transit = measured && median.by ? { ...measured, p50Us: median.by.hops.get(`${from}>${to}`) ?? 0 } : measured;
    if (!transit) {
      notes.push(`no ${direction} hop ${from} → ${to} seen`);
      return;
    }
    const send = get(from, direction === 'request' ? 'txReq' : 'txResp');
    const wake = get(to, direction === 'request' ? 'wakeReq' : 'wakeResp');
    parts.push({
      kind: 'hop',
      label: `${from} → ${to}`,
      direction,
      from,
      to,
      meanUs: send.meanUs + transit.meanUs + wake.meanUs,
      p50Us: send.p50Us + transit.p50Us + wake.p50Us,
      send: roundPart(send),
      transit: roundPart(transit),
      wake: roundPart(wake),
      samples: Math.min(send.count, transit.count, wake.count),
    });
  };
  const residence = (role: ComponentRole): void => {
    const served = get(role, 'served');
    const waited = FORWARDERS.has(role) ? get(role, 'waited') : { meanUs: 0, p50Us: 0, count: Number.POSITIVE_INFINITY };
    const inner = FORWARDERS.has(role)
      ? (['wakeReq', 'wakeResp', 'txReq', 'txResp'] as const).map((k) => get(role, k))
      : (['wakeReq', 'txResp'] as const).map((k) => get(role, k));
    const at = (pick: (f: PartFigure) => number): number => pick(served) - pick(waited) - inner.reduce((t, f) => t + pick(f), 0);
    parts.push({
      kind: 'residence',
      label: role,
      direction: 'both',
      role,
      meanUs: at((f) => f.meanUs),
      p50Us: at((f) => f.p50Us),
      samples: Math.min(served.count, waited.count, ...inner.map((f) => f.count)),
    });
  };

  // The client app first: how late it wrote the request after its intended send time (its
  // own clock; open model), which the latency counts from.
  if (input.driverLateness) {
    parts.push({
      kind: 'residence',
      label: 'client-app (send lateness)',
      direction: 'request',
      role: 'client-app',
      meanUs: input.driverLateness.meanUs,
      p50Us: input.driverLateness.p50Us,
      samples: input.load.requests + input.load.non2xx,
    });
  }
  // Request: client app → … → server app; then the server; response: back the same way.
  for (let i = 0; i + 1 < chain.length; i++) {
    hop(chain[i]!, chain[i + 1]!, 'request');
    if (i + 1 < chain.length - 1) residence(chain[i + 1]!);
  }
  if (chain.length > 1) residence(chain[chain.length - 1]!);
  for (let i = chain.length - 1; i > 0; i--) hop(chain[i]!, chain[i - 1]!, 'response');
  // A proxy's residence covers both directions; it sits once, between its request hops.
  const modelled = new Set(parts.filter((p) => p.kind === 'hop').map((p) => `${p.from}>${p.to}`));
  const outside = [...hopsByRoles.keys()].filter((k) => !modelled.has(k));
  if (outside.length > 0) notes.push(`hops outside the path model, not in the parts: ${outside.map((k) => k.replace('>', ' → ')).join(', ')}`);

  const clientSend = get('client-app', 'txReq');
  const clientWake = get('client-app', 'wakeResp');
  const sum = {
    meanUs: parts.reduce((t, p) => t + p.meanUs, 0),
    p50Us: parts.reduce((t, p) => t + p.p50Us, 0),
  };
  // The client app's own send path and wake-up are inside the first and last hop.
  const driver = { meanUs: input.load.latencyUs.mean, p50Us: input.load.latencyUs.p50 };
  const requests = input.load.requests + input.load.non2xx;

  // Consistency: the client's kernel round trip (waited) must equal what lies between.
  const between = sum.meanUs - clientSend.meanUs - clientWake.meanUs - (input.driverLateness?.meanUs ?? 0);
  if (Math.abs(between - clientWaited.meanUs) > 0.1 * clientWaited.meanUs) {
    notes.push(`the parts between the client's send and read (${between.toFixed(1)} µs) differ from its kernel round trip (${clientWaited.meanUs.toFixed(1)} µs) by more than 10 %`);
  }
  // The same for the p50s from whole requests: they add up to the averaged requests' round trip.
  const roundTrip = input.medianRequest?.roundTripMeanUs;
  if (median.by && roundTrip !== undefined) {
    const wholeSum = sum.p50Us - (input.driverLateness?.p50Us ?? 0);
    if (Math.abs(wholeSum - roundTrip) > 0.1 * roundTrip) {
      notes.push(`the p50 parts (${wholeSum.toFixed(1)} µs) differ from the averaged whole requests' round trip (${roundTrip.toFixed(1)} µs) by more than 10 %`);
    }
  }

  const decomposition: CellDecomposition = {
    method: 'first segment of each message at the cell\'s sockets (cgroup_skb ingress/egress, matched by TCP seq/ack) and its read/send (sock_recv_length, tcp_sendmsg_locked)',
    probeRequests: clientWaited.count * (input.sampleEvery ?? 1),
    driverRequests: requests,
    driver: roundPart(driver),
    parts: parts.map((p) => ({ ...p, meanUs: round1(p.meanUs), p50Us: round1(p.p50Us) })),
    sum: roundPart(sum),
    unattributed: roundPart({ meanUs: driver.meanUs - sum.meanUs, p50Us: driver.p50Us - sum.p50Us }),
    hops: parts.filter((p) => p.kind === 'hop').length,
    ...(input.sampleEvery !== undefined ? { sampleEvery: input.sampleEvery } : {}),
    p50: median.p50,
    notes,
  };
  const kernel = kernelCost(input, roles, requests);
  if (kernel) decomposition.kernel = kernel;
  return decomposition;
}

/**
 * The whole-request figures by role (summed over a role's components: a request visits one
 * of each), when there are enough of them and they are most of the requests (alone in the
 * cell is then not a biased few); else why the p50s are each part's own median.
 */
function medianRequestsOf(
  m: MedianRequestFigures | undefined,
  probeRequests: number,
  roleOf: ReadonlyMap<string, ComponentRole>,
): { by?: { path: Map<string, number>; hops: Map<string, number> }; p50: NonNullable<CellDecomposition['p50']> } {
  const fallback = (why: string) => ({ p50: { from: 'part medians' as const, why } });
  if (!m) return fallback('the probes did not follow whole requests');
  if (m.averaged < MEDIAN_REQUESTS_MIN) return fallback(`${m.requests} whole requests followed, fewer than ${MEDIAN_REQUESTS_MIN}`);
  if (m.requests < MEDIAN_REQUESTS_SHARE * probeRequests) {
    return fallback(`only ${m.requests} of ${probeRequests} requests were alone in the cell (concurrent requests share the path)`);
  }
  const path = new Map<string, number>();
  for (const [id, kinds] of Object.entries(m.parts)) {
    const role = roleOf.get(id);
    if (!role) continue;
    for (const [kind, us] of Object.entries(kinds)) path.set(`${role}>${kind}`, (path.get(`${role}>${kind}`) ?? 0) + us);
  }
  const hops = new Map<string, number>();
  for (const h of m.hops) {
    const from = roleOf.get(h.from);
    const to = roleOf.get(h.to);
    if (from && to) hops.set(`${from}>${to}`, (hops.get(`${from}>${to}`) ?? 0) + h.us);
  }
  return { by: { path, hops }, p50: { from: 'median requests', requests: m.requests, averaged: m.averaged } };
}

/** Whole requests needed around the median (the loader averages 10 %, at least 20). */
const MEDIAN_REQUESTS_MIN = 20;
/** The share of the probes' requests that must have been followed alone. */
const MEDIAN_REQUESTS_SHARE = 0.5;

function kernelCost(input: DecomposeInput, roles: Map<ComponentRole, RoleFigures>, requests: number): KernelCost | undefined {
  if (requests <= 0) return undefined;
  const perRequest = (seconds: number): number => round1((seconds * 1e6) / requests);
  const cost: KernelCost = { podCpus: input.podCpus ?? '' };
  if (input.hostCpus && input.podCpus) {
    const cpus = cpuList(input.podCpus).map((c) => input.hostCpus![c]).filter((c): c is CpuTimes => c !== undefined);
    if (cpus.length > 0) {
      const total = (pick: (c: CpuTimes) => number): number => cpus.reduce((t, c) => t + pick(c), 0);
      cost.kernelUsPerRequest = perRequest(total((c) => c.systemSeconds + c.softirqSeconds + c.irqSeconds));
      cost.softirqUsPerRequest = perRequest(total((c) => c.softirqSeconds));
      cost.userUsPerRequest = perRequest(total((c) => c.userSeconds));
    }
  }
  if (input.datapathBpf) {
    cost.datapathBpf = {
      programs: input.datapathBpf.programs,
      runNsPerRequest: Math.round(input.datapathBpf.runTimeNs / requests),
      runsPerRequest: Number((input.datapathBpf.runCount / requests).toFixed(4)),
    };
  }
  const system: Partial<Record<ComponentRole, number>> = {};
  const runq: Partial<Record<ComponentRole, number>> = {};
  for (const [role, r] of roles) {
    if (r.systemSeconds !== undefined) system[role] = perRequest(r.systemSeconds);
    if (r.runqWaitSeconds !== undefined) runq[role] = perRequest(r.runqWaitSeconds);
  }
  if (Object.keys(system).length > 0) cost.systemUsPerRequestByRole = system;
  if (Object.keys(runq).length > 0) cost.runQueueUsPerRequestByRole = runq;
  return cost;
}

// ---------------------------------------------------------------------------------------
// A mesh's Δ vs the baseline, split the same way

/** The parts of a decomposition, summed into the categories a Δ is told in. */
export interface DecompositionTotals {
  /** Proxies' time in user space (sidecars, node proxy). */
  proxyUserUs: number;
  /** The client app's own send lateness (the driver's figure). */
  clientUs: number;
  /** The server app's time in user space. */
  appUserUs: number;
  /** Send paths + transits of every hop: the kernel's network work. */
  kernelTransitUs: number;
  /** Wake-ups of every hop: wake-up, run-queue wait, recv. */
  wakeUpUs: number;
  unattributedUs: number;
  driverUs: number;
  hops: number;
}

export function totalsOf(d: CellDecomposition, stat: 'meanUs' | 'p50Us' = 'meanUs'): DecompositionTotals {
  const sum = (pick: (p: DecompositionPart) => number, filter: (p: DecompositionPart) => boolean): number =>
    d.parts.filter(filter).reduce((t, p) => t + pick(p), 0);
  return {
    proxyUserUs: sum((p) => p[stat], (p) => p.kind === 'residence' && p.role !== 'server-app' && p.role !== 'client-app'),
    clientUs: sum((p) => p[stat], (p) => p.kind === 'residence' && p.role === 'client-app'),
    appUserUs: sum((p) => p[stat], (p) => p.kind === 'residence' && p.role === 'server-app'),
    kernelTransitUs: sum((p) => (p.send?.[stat] ?? 0) + (p.transit?.[stat] ?? 0), (p) => p.kind === 'hop'),
    wakeUpUs: sum((p) => p.wake?.[stat] ?? 0, (p) => p.kind === 'hop'),
    unattributedUs: d.unattributed[stat],
    driverUs: d.driver[stat],
    hops: d.hops,
  };
}

export interface MeshDecomposition {
  mesh: MeshName;
  protocol: Protocol;
  services: number;
  /** Absent: plaintext. */
  security?: string;
  /** Cells it averages (saturated and failed cells left out). */
  cells: number;
  /** The parts averaged over the cells (mean µs per request). */
  parts: DecompositionPart[];
  totals: DecompositionTotals;
  /** The kernel's CPU per request on the pods' CPUs and the data path's own BPF run time, averaged over the cells. */
  kernel?: { kernelUsPerRequest?: number; softirqUsPerRequest?: number; datapathBpfNsPerRequest?: number };
  /** vs the baseline's decomposition of the same protocol × services; absent for the baseline. */
  delta?: DecompositionTotals & { words: string };
  /** The dwell probe's sampling: timed in the first 1/N of every second (largest N over the cells); absent: every message. */
  sampleEvery?: number;
  /** Of `cells`, how many have p50s from whole requests around the median (the rest: each part's own median). */
  p50FromMedianRequests?: number;
}

const avg = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

function averageParts(ds: CellDecomposition[]): DecompositionPart[] {
  const first = ds[0]!;
  return first.parts.map((part, i) => {
    const same = ds.map((d) => d.parts.find((p) => p.label === part.label && p.direction === part.direction) ?? d.parts[i]!).filter(Boolean);
    const mean = (pick: (p: DecompositionPart) => number | undefined): number => round1(avg(same.map((p) => pick(p) ?? 0)));
    const sub = (k: 'send' | 'transit' | 'wake'): PartFigure | undefined =>
      part[k] ? { meanUs: mean((p) => p[k]?.meanUs), p50Us: mean((p) => p[k]?.p50Us) } : undefined;
    return {
      ...part,
      meanUs: mean((p) => p.meanUs),
      p50Us: mean((p) => p.p50Us),
      ...(part.send ? { send: sub('send') } : {}),
      ...(part.transit ? { transit: sub('transit') } : {}),
      ...(part.wake ? { wake: sub('wake') } : {}),
      samples: same.reduce((t, p) => t + p.samples, 0),
    };
  });
}

function averageTotals(ts: DecompositionTotals[]): DecompositionTotals {
  const a = (pick: (t: DecompositionTotals) => number): number => round1(avg(ts.map(pick)));
  return {
    proxyUserUs: a((t) => t.proxyUserUs),
    clientUs: a((t) => t.clientUs),
    appUserUs: a((t) => t.appUserUs),
    kernelTransitUs: a((t) => t.kernelTransitUs),
    wakeUpUs: a((t) => t.wakeUpUs),
    unattributedUs: a((t) => t.unattributedUs),
    driverUs: a((t) => t.driverUs),
    hops: Math.round(avg(ts.map((t) => t.hops))),
  };
}

const signed = (us: number): string => `${us >= 0 ? '+' : '−'}${Math.abs(Math.round(us))} µs`;

/** "sidecar +83 µs (mean) = +7 µs in proxies' user space + 55 µs of kernel transit (4 extra kernel hops) + …". */
export function deltaWords(mesh: string, d: DecompositionTotals): string {
  const hops = d.hops > 0 ? `${d.hops} extra kernel hop${d.hops === 1 ? '' : 's'}` : d.hops < 0 ? `${-d.hops} fewer kernel hop${d.hops === -1 ? '' : 's'}` : 'no extra hop';
  const terms: Array<[number, string]> = [
    [d.proxyUserUs, "in proxies' user space"],
    [d.kernelTransitUs, `of kernel transit (${hops})`],
    [d.wakeUpUs, 'of wake-ups'],
    [d.appUserUs, 'in the server app'],
    [d.clientUs, "in the driver's send lateness"],
    [d.unattributedUs, 'unattributed'],
  ];
  const body = terms
    .map(([us, what], i) => {
      const magnitude = `${Math.abs(Math.round(us))} µs ${what}`;
      if (i === 0) return `${us < 0 ? '−' : '+'}${magnitude}`;
      return `${us < 0 ? '−' : '+'} ${magnitude}`;
    })
    .join(' ');
  return `${mesh} ${signed(d.driverUs)} (mean) = ${body}`;
}

export interface DecomposableCell {
  mesh: MeshName;
  protocol: Protocol;
  services: number;
  security?: string;
  chain?: number;
  status?: string;
  load: { saturated?: boolean };
  decomposition?: CellDecomposition;
}

/** Per mesh × protocol × services: the averaged decomposition and its Δ vs the baseline. */
export function decomposeMeshes(cells: readonly DecomposableCell[], reference: MeshName = REFERENCE_MESH): MeshDecomposition[] {
  const groups = new Map<string, DecomposableCell[]>();
  for (const cell of cells) {
    // A chain's longer cells cross services the path model does not follow (yet).
    if (!cell.decomposition || cell.status === 'failed' || cell.load.saturated || (cell.chain ?? 1) !== 1) continue;
    const key = `${cell.mesh}|${cell.protocol}|${cell.services}|${cell.security ?? 'plaintext'}`;
    groups.set(key, [...(groups.get(key) ?? []), cell]);
  }
  const out: MeshDecomposition[] = [];
  for (const group of groups.values()) {
    const ds = group.map((c) => c.decomposition!);
    const avgOf = (pick: (k: KernelCost) => number | undefined): number | undefined => {
      const xs = ds.flatMap((d) => (d.kernel && pick(d.kernel) !== undefined ? [pick(d.kernel)!] : []));
      return xs.length ? round1(avg(xs)) : undefined;
    };
    const sampleEvery = Math.max(...ds.map((d) => d.sampleEvery ?? 1));
    const kernel = {
      kernelUsPerRequest: avgOf((k) => k.kernelUsPerRequest),
      softirqUsPerRequest: avgOf((k) => k.softirqUsPerRequest),
      datapathBpfNsPerRequest: avgOf((k) => k.datapathBpf?.runNsPerRequest),
    };
    out.push({
      mesh: group[0]!.mesh,
      protocol: group[0]!.protocol,
      services: group[0]!.services,
      ...(group[0]!.security && group[0]!.security !== 'plaintext' ? { security: group[0]!.security } : {}),
      cells: group.length,
      parts: averageParts(ds),
      totals: averageTotals(ds.map((d) => totalsOf(d))),
      ...(Object.values(kernel).some((v) => v !== undefined) ? { kernel: JSON.parse(JSON.stringify(kernel)) as MeshDecomposition['kernel'] } : {}),
      ...(sampleEvery > 1 ? { sampleEvery } : {}),
      p50FromMedianRequests: ds.filter((d) => d.p50?.from === 'median requests').length,
    });
  }
  for (const m of out) {
    if (m.mesh === reference) continue;
    const base = out.find((b) => b.mesh === reference && b.protocol === m.protocol && b.services === m.services && b.security === m.security);
    if (!base) continue;
    const d = (pick: (t: DecompositionTotals) => number): number => round1(pick(m.totals) - pick(base.totals));
    const delta: DecompositionTotals = {
      proxyUserUs: d((t) => t.proxyUserUs),
      clientUs: d((t) => t.clientUs),
      appUserUs: d((t) => t.appUserUs),
      kernelTransitUs: d((t) => t.kernelTransitUs),
      wakeUpUs: d((t) => t.wakeUpUs),
      unattributedUs: d((t) => t.unattributedUs),
      driverUs: d((t) => t.driverUs),
      hops: m.totals.hops - base.totals.hops,
    };
    m.delta = { ...delta, words: deltaWords(m.mesh, delta) };
  }
  const order = (mesh: string): number => (mesh === reference ? -1 : 0);
  return out.sort((a, b) => a.protocol.localeCompare(b.protocol) || a.services - b.services || order(a.mesh) - order(b.mesh) || a.mesh.localeCompare(b.mesh));
}

/** A cell's decomposition from what its load run measured (the runner's DriverRun), or nothing. */
export function decomposeMeasured(
  measured: { components: Array<{ id: string; role: ComponentRole }>; probeFigures?: ProbeFigures; outcome: DecomposeInput['load'] },
  podCpus: string,
): { decomposition?: CellDecomposition } {
  const figures = measured.probeFigures;
  if (!figures) return {};
  const components: DecomposeInput['components'] = {};
  for (const c of measured.components) components[c.id] = { role: c.role, ...(figures.components[c.id] ?? {}) };
  const lateness = (measured.outcome as { accounting?: { schedulerLatenessUs?: { mean?: number; p50?: number } } }).accounting?.schedulerLatenessUs;
  const decomposition = decomposeCell({
    ...(lateness && lateness.mean !== undefined && lateness.p50 !== undefined ? { driverLateness: { meanUs: lateness.mean, p50Us: lateness.p50 } } : {}),
    sampleEvery: figures.sampleEvery,
    components,
    hops: figures.hops,
    hostCpus: figures.hostCpus,
    datapathBpf: figures.datapathBpf,
    ...(figures.medianRequest ? { medianRequest: figures.medianRequest } : {}),
    podCpus,
    load: measured.outcome,
  });
  return decomposition ? { decomposition } : {};
}

// ---------------------------------------------------------------------------------------
// Tables for summary.md, the terminal and report.html (from the stored analysis)

export interface DecompositionTable {
  heading: string;
  header: string[];
  align: Array<'left' | 'right'>;
  rows: string[][];
}

const us = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(1)} µs`);
const signedUs = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)} µs`;

/** Per protocol × services: the parts per mesh, then the Δ vs the baseline per mesh. */
export function decompositionTables(stored: readonly MeshDecomposition[]): DecompositionTable[] {
  const tables: DecompositionTable[] = [];
  const keyOf = (m: MeshDecomposition): string => `${m.protocol}|${m.services}|${m.security ?? ''}`;
  const groups = [...new Set(stored.map(keyOf))];
  for (const key of groups) {
    const meshes = stored.filter((m) => keyOf(m) === key);
    const { protocol, services } = meshes[0]!;
    const label = `${protocol}${meshes[0]!.security ? ` · ${meshes[0]!.security}` : ''}`;
    const rows: string[][] = [];
    for (const m of meshes) {
      for (const p of m.parts) {
        rows.push([
          m.mesh,
          p.kind === 'hop' ? `hop ${p.label}` : p.role === 'client-app' ? p.label : `${p.label} (user space)`,
          p.direction,
          us(p.meanUs),
          us(p.p50Us),
          p.send ? `${us(p.send.meanUs)} + ${us(p.transit?.meanUs)} + ${us(p.wake?.meanUs)}` : '—',
        ]);
      }
      rows.push([m.mesh, "driver's own (unattributed)", '', us(m.totals.unattributedUs), '', '']);
      rows.push([m.mesh, `= driver's mean latency (${m.cells} cell${m.cells === 1 ? '' : 's'})`, '', us(m.totals.driverUs), '', '']);
    }
    tables.push({
      heading: `${label} · ${services} service${services === 1 ? '' : 's'} — where the latency goes, along the path (mean per request)`,
      header: ['mesh', 'part', 'direction', 'mean', 'p50', 'send + transit + wake-up'],
      align: ['left', 'left', 'left', 'right', 'right', 'right'],
      rows,
    });
    const deltas = meshes.filter((m) => m.delta);
    if (deltas.length > 0) {
      tables.push({
        heading: `${label} · ${services} service${services === 1 ? '' : 's'} — where each mesh's Δ vs ${REFERENCE_MESH} goes (mean per request)`,
        header: ['mesh', 'Δ latency', "proxies' user space", 'kernel transit', 'wake-ups', 'server app', "driver's lateness", 'unattributed', 'extra hops', 'kernel CPU / request', 'softirq / request', 'data path BPF / request'],
        align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
        rows: deltas.map((m) => [
          m.mesh,
          signedUs(m.delta!.driverUs),
          signedUs(m.delta!.proxyUserUs),
          signedUs(m.delta!.kernelTransitUs),
          signedUs(m.delta!.wakeUpUs),
          signedUs(m.delta!.appUserUs),
          signedUs(m.delta!.clientUs),
          signedUs(m.delta!.unattributedUs),
          String(m.delta!.hops),
          us(m.kernel?.kernelUsPerRequest),
          us(m.kernel?.softirqUsPerRequest),
          m.kernel?.datapathBpfNsPerRequest === undefined ? '—' : `${Math.round(m.kernel.datapathBpfNsPerRequest)} ns`,
        ]),
      });
    }
  }
  return tables;
}

/** The Δ of every mesh in words, for the notes of summary.md and the terminal. */
export function decompositionWords(stored: readonly MeshDecomposition[]): string[] {
  const words = stored.filter((m) => m.delta).map((m) => `where the latency goes (${m.protocol}, ${m.services} service${m.services === 1 ? '' : 's'}): ${m.delta!.words}`);
  const whole = stored.reduce((t, m) => t + (m.p50FromMedianRequests ?? 0), 0);
  const cells = stored.reduce((t, m) => t + m.cells, 0);
  if (cells > 0) {
    words.push(
      whole === cells
        ? "where the latency goes: each part's p50 is its mean over the whole requests around the median round trip (the probes keep each request's parts together), so the p50s add up"
        : `where the latency goes: in ${whole} of ${cells} cells each part's p50 is its mean over the whole requests around the median round trip (they add up); ` +
          "in the others each part's own median (medians do not add up: too few requests were alone in the cell to follow whole)",
    );
  }
  const sampled = Math.max(0, ...stored.map((m) => m.sampleEvery ?? 1));
  if (sampled > 1) {
    words.push(
      `where the latency goes: the parts are timed in the first 1/${sampled} of every second (the probes' cost kept low), the driver's latency over every request, ` +
      "so 'unattributed' also holds the sampling error of the mean (the p50s agree better); MESHBENCH_PROBES_SAMPLE_EVERY=1 times every message",
    );
  }
  return words;
}
