// A LoadSpec crosses a process boundary as JSON (driverMain's argument): check it at that
// edge, every problem at once, with field paths.
import { InputError, type InputProblem } from '../errors.ts';
import type { LoadSpec, LoadTarget } from './types.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

export function parseLoadSpec(input: unknown, source = 'load spec'): LoadSpec {
  const problems: InputProblem[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InputError(source, [{ path: '', message: 'must be an object' }]);
  }
  const o = input as Record<string, unknown>;
  const targets: LoadTarget[] = [];
  if (!Array.isArray(o.targets) || o.targets.length === 0) {
    problems.push({ path: 'targets', message: 'must be a non-empty array of {host, port, path?}' });
  } else {
    o.targets.forEach((t: unknown, i: number) => {
      const target = (typeof t === 'object' && t !== null ? t : {}) as Record<string, unknown>;
      if (typeof target.host !== 'string' || target.host === '') {
        problems.push({ path: `targets[${i}].host`, message: 'must be a host name or address' });
      }
      if (!isPositiveInteger(target.port) || target.port > 65535) {
        problems.push({ path: `targets[${i}].port`, message: `must be a port 1–65535, got ${JSON.stringify(target.port)}` });
      }
      if (target.path !== undefined && (typeof target.path !== 'string' || !target.path.startsWith('/'))) {
        problems.push({ path: `targets[${i}].path`, message: 'must start with "/"' });
      }
      targets.push({ host: String(target.host), port: Number(target.port), path: (target.path as string | undefined) ?? '/' });
    });
  }
  if (o.model !== 'open' && o.model !== 'closed') {
    problems.push({ path: 'model', message: `must be "open" or "closed", got ${JSON.stringify(o.model)}` });
  }
  if (o.model === 'open' && !(typeof o.rate === 'number' && o.rate > 0 && Number.isFinite(o.rate))) {
    problems.push({ path: 'rate', message: `open model needs a positive rate (requests/s), got ${JSON.stringify(o.rate)}` });
  }
  let weighted = targets.length;
  if (o.weights !== undefined) {
    const w = o.weights;
    if (!Array.isArray(w) || w.length !== targets.length || w.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0)) {
      problems.push({ path: 'weights', message: `must be one number ≥ 0 per target (${targets.length}), got ${JSON.stringify(w).slice(0, 80)}` });
    } else if (!w.some((x) => (x as number) > 0)) {
      problems.push({ path: 'weights', message: 'at least one weight must be positive' });
    } else {
      weighted = w.filter((x) => (x as number) > 0).length;
    }
  }
  if (!isPositiveInteger(o.connections)) {
    problems.push({ path: 'connections', message: `must be a positive integer, got ${JSON.stringify(o.connections)}` });
  } else if (targets.length > 0 && o.connections < weighted) {
    problems.push({ path: 'connections', message: `must be at least one per target (${weighted}), got ${o.connections}` });
  }
  if (!isPositiveInteger(o.durationMs)) {
    problems.push({ path: 'durationMs', message: `must be a positive integer, got ${JSON.stringify(o.durationMs)}` });
  }
  if (!(typeof o.warmupMs === 'number' && Number.isInteger(o.warmupMs) && o.warmupMs >= 0)) {
    problems.push({ path: 'warmupMs', message: `must be an integer ≥ 0, got ${JSON.stringify(o.warmupMs)}` });
  }
  if (o.timeoutMs !== undefined && !isPositiveInteger(o.timeoutMs)) {
    problems.push({ path: 'timeoutMs', message: `must be a positive integer, got ${JSON.stringify(o.timeoutMs)}` });
  }
  if (problems.length > 0) throw new InputError(source, problems);
  const spec: LoadSpec = {
    targets,
    model: o.model as LoadSpec['model'],
    connections: o.connections as number,
    durationMs: o.durationMs as number,
    warmupMs: o.warmupMs as number,
  };
  if (o.model === 'open') spec.rate = o.rate as number;
  if (o.weights !== undefined) spec.weights = [...(o.weights as number[])];
  if (o.timeoutMs !== undefined) spec.timeoutMs = o.timeoutMs as number;
  return spec;
}
