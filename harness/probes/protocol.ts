// The loader's JSON-lines protocol (bpf/loader.c), parsed into figures. Pure functions.
import { latencyFigures } from './histogram.ts';
import { PATH_KINDS, PROBE_NAMES, type PathFigures, type PathKind, type ComponentProbeFigures, type HistogramSlots, type MedianRequestFigures, type ProbeFigures, type ProbeName } from './types.ts';

export interface ReadyLine {
  ready: true;
  probes: string[];
  failed: Record<string, string>;
  maxComponents: number;
  memIntervalMs: number;
  sampleEvery?: number;
  pid: number;
}

export interface LoaderHistogram {
  slots: HistogramSlots;
  count: number;
  sumNs: number;
}

export interface LoaderComponent {
  id: number;
  dwell?: LoaderHistogram;
  path?: Partial<Record<PathKind, LoaderHistogram>>;
  runq?: LoaderHistogram;
  cpu?: { onCpuNs: number; softirqNs: number };
  connect?: { established: number; failed: number; accepted: number; latency: LoaderHistogram };
  memory?: { peakBytes: number; meanBytes: number; samples: number };
}

export interface SnapshotLine {
  snapshot: {
    final: boolean;
    sampleEvery?: number;
    windowNs: number;
    components: LoaderComponent[];
    hops?: Array<{ from: number; to: number; transit: LoaderHistogram }>;
    unattributedSoftirqNs?: number;
    medianRequest?: {
      requests: number;
      kept: number;
      averaged: number;
      roundTripP50Ns?: number;
      roundTripMeanNs?: number;
      parts: Array<{ component: number; kind: string; ns: number }>;
      hops: Array<{ from: number; to: number; ns: number }>;
    };
  };
}

export interface ErrorLine {
  error: string;
  fatal?: boolean;
}

export type LoaderLine = ReadyLine | SnapshotLine | ErrorLine | ({ ok: true } & Record<string, unknown>);

/** Parses one stdout line of the loader; throws on anything that is not its JSON. */
export function parseLoaderLine(line: string): LoaderLine {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`loader printed something that is not a JSON object: ${line.slice(0, 200)}`);
  }
  return value as LoaderLine;
}

export function isError(line: LoaderLine): line is ErrorLine {
  return typeof (line as ErrorLine).error === 'string';
}
export function isReady(line: LoaderLine): line is ReadyLine {
  return (line as ReadyLine).ready === true;
}
export function isSnapshot(line: LoaderLine): line is SnapshotLine {
  return typeof (line as SnapshotLine).snapshot === 'object';
}

export function asProbeNames(names: readonly string[]): ProbeName[] {
  return names.filter((n): n is ProbeName => (PROBE_NAMES as readonly string[]).includes(n));
}

/** A loader snapshot, in the harness's terms: component names, percentiles, seconds. */
export function toProbeFigures(
  line: SnapshotLine,
  componentNames: ReadonlyMap<number, string>,
  ready: Pick<ReadyLine, 'probes' | 'failed'>,
): ProbeFigures {
  const components: Record<string, ComponentProbeFigures> = {};
  for (const c of line.snapshot.components) {
    const name = componentNames.get(c.id) ?? `component-${c.id}`;
    const figures: ComponentProbeFigures = {};
    if (c.dwell) figures.dwell = latencyFigures(c.dwell.slots, c.dwell.sumNs);
    if (c.path) {
      const path: PathFigures = {};
      for (const kind of PATH_KINDS) {
        const h = c.path[kind];
        if (h && h.count > 0) path[kind] = latencyFigures(h.slots, h.sumNs);
      }
      figures.path = path;
    }
    if (c.runq) figures.runq = latencyFigures(c.runq.slots, c.runq.sumNs);
    if (c.cpu) {
      figures.cpuSeconds = c.cpu.onCpuNs / 1e9;
      figures.softirqSeconds = c.cpu.softirqNs / 1e9;
    }
    if (c.connect) {
      figures.connect = {
        ...latencyFigures(c.connect.latency.slots, c.connect.latency.sumNs),
        failed: c.connect.failed,
        accepted: c.connect.accepted,
      };
    }
    if (c.memory) figures.memory = { ...c.memory };
    components[name] = figures;
  }
  const failed: Partial<Record<ProbeName, string>> = {};
  for (const [probe, why] of Object.entries(ready.failed)) {
    if ((PROBE_NAMES as readonly string[]).includes(probe)) failed[probe as ProbeName] = why;
  }
  const figures: ProbeFigures = {
    windowMs: line.snapshot.windowNs / 1e6,
    final: line.snapshot.final,
    probes: asProbeNames(ready.probes),
    ...(line.snapshot.sampleEvery !== undefined && (ready.probes.includes('dwell')) ? { sampleEvery: line.snapshot.sampleEvery } : {}),
    failed,
    components,
  };
  if (line.snapshot.hops) {
    figures.hops = line.snapshot.hops.map((h) => ({
      from: componentNames.get(h.from) ?? `component-${h.from}`,
      to: componentNames.get(h.to) ?? `component-${h.to}`,
      transit: latencyFigures(h.transit.slots, h.transit.sumNs),
    }));
  }
  const median = line.snapshot.medianRequest;
  if (median) {
    const name = (id: number): string => componentNames.get(id) ?? `component-${id}`;
    const parts: MedianRequestFigures['parts'] = {};
    for (const p of median.parts) {
      if (!(PATH_KINDS as readonly string[]).includes(p.kind)) continue;
      (parts[name(p.component)] ??= {})[p.kind as PathKind] = p.ns / 1000;
    }
    figures.medianRequest = {
      requests: median.requests,
      kept: median.kept,
      averaged: median.averaged,
      ...(median.roundTripP50Ns !== undefined ? { roundTripP50Us: median.roundTripP50Ns / 1000 } : {}),
      ...(median.roundTripMeanNs !== undefined ? { roundTripMeanUs: median.roundTripMeanNs / 1000 } : {}),
      parts,
      hops: median.hops.map((h) => ({ from: name(h.from), to: name(h.to), us: h.ns / 1000 })),
    };
  }
  if (line.snapshot.unattributedSoftirqNs !== undefined) {
    figures.unattributedSoftirqSeconds = line.snapshot.unattributedSoftirqNs / 1e9;
  }
  return figures;
}
