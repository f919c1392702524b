// The scenario file's schema: what a user may write, with defaults, and the exact message
// for every mistake. Parsing yields the normalised `Scenario` of types.ts (durations in
// µs/ms, units in the names); everything inside the program trusts that type.
//
// Messages follow one pattern: `<what was expected>, got <what was given>`, so a user can
// fix a file from the message alone. Cross-field rules (rate vs. model, wrk vs. model,
// duplicates) run even when other fields are wrong, so one pass reports every problem.
import { PROBE_NAMES, type ProbeName } from '../probes/types.ts';
import { z } from 'zod';
import type { InputProblem } from '../errors.ts';
import { GRPC_MESSAGES_PER_STREAM_MAX, GRPC_STREAMS_PER_CONNECTION_MAX, WORKLOAD_SERVERS } from './types.ts';
import {
  DEFAULT_HOT_SHARE, GRPC_METHODS, KIND_NODE_COUNTS, LOAD_SPREADS, MESH_NAMES, PLACEMENTS, PLATFORMS, PROTOCOLS,
  SECURITY_MODES, type ClusterSettings, type Security, type GrpcSettings,
  type KindNodeCount, type LoadSettings, type MeshName, type PlatformName, type Protocol, type Scenario, type Workload,
} from './types.ts';

// ---------------------------------------------------------------------------------------
// Limits (exported so docs, tests and the CLI can quote them)

export const SERVICES_MIN = 1;
export const SERVICES_MAX = 200;
/** Longest service chain: every hop is a pod (and with sidecars two proxies) per entry service. */
export const CHAIN_MAX = 10;
export const RESPONSE_BYTES_MAX = 1024 * 1024;
export const CONNECTIONS_MAX = 1024;
export const REPEATS_MAX = 100;
export const DURATION_MIN_US = 1_000_000; // 1 s: shorter windows hold too few requests for a p99
export const DURATION_MAX_US = 3_600_000_000; // 1 h
export const WARMUP_MAX_US = 3_600_000_000; // 1 h
/** Server-side delay ceiling: longer delays run into the load drivers' request timeouts (10 s). */
export const DELAY_MAX_US = 10_000_000;
/** Longest idle window per cell. */
export const IDLE_MAX_US = 600_000_000; // 10 m
export const MESSAGES_PER_STREAM_MAX = GRPC_MESSAGES_PER_STREAM_MAX;
export const STREAMS_PER_CONNECTION_MAX = GRPC_STREAMS_PER_CONNECTION_MAX;
export const GRPC_DEFAULT_MESSAGES_PER_STREAM = 10;
/**
 * Open-model rate bounds, requests/s over all services. Above the ceiling one driver process
 * cannot pace the sends, and its backlog of intended-but-unsent requests grows without
 * bound (1e9 req/s filled ~4 GB and killed the driver); below the floor a measured window
 * holds too few requests for any percentile.
 */
export const RATE_MIN = 1;
export const RATE_MAX = 100_000;
/** Scenario names end up in run directories, reports, Kubernetes labels: a DNS label's length. */
export const NAME_MAX = 63;
/** Longest kubeconfig context name and image reference (Kubernetes object names, docker's limit). */
export const CONTEXT_MAX = 253;
export const IMAGE_REFERENCE_MAX = 255;
export const PATH_MAX = 4096;

const LOAD_MODELS = ['open', 'closed'] as const;
const DRIVERS = ['native', 'autocannon', 'wrk'] as const; // harness/load/types.ts DRIVER_NAMES
/** Known but not implemented yet: named as such rather than as unknown. */
const FUTURE_PROTOCOLS: string[] = [];
/** What runs when a scenario names no protocols. */
const DEFAULT_PROTOCOLS: Protocol[] = ['http1'];
/** Platforms whose cells can carry gRPC (kind/kubernetes deploy the HTTP workload only). */
const GRPC_PLATFORMS: readonly PlatformName[] = ['local'];

// ---------------------------------------------------------------------------------------
// Durations

export const DURATION_UNITS = ['us', 'µs', 'ms', 's', 'm'] as const;
const US_PER_UNIT: Record<string, number> = {
  us: 1,
  'µs': 1, // U+00B5 micro sign
  'μs': 1, // U+03BC greek mu, which keyboards produce as often
  ms: 1_000,
  s: 1_000_000,
  m: 60_000_000,
};
const UNIT_LIST = 'us, µs, ms, s, m';

export type DurationParse = { ok: true; us: number } | { ok: false; message: string };

/**
 * Parses a duration such as `2ms`, `1.5s`, `250us`, `0s` into whole microseconds.
 * A bare number is refused: `20` could be seconds or milliseconds, and a guess would
 * silently change what is measured.
 */
export function parseDurationUs(input: unknown): DurationParse {
  if (typeof input === 'number' || (typeof input === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(input))) {
    const bare = String(input).trim();
    return {
      ok: false,
      message: `must be a duration with a unit (${UNIT_LIST}), got ${describe(input)}; add a unit, e.g. "${bare}s" or "${bare}ms"`,
    };
  }
  if (typeof input !== 'string') {
    return { ok: false, message: `must be a duration such as "2ms", "1.5s" or "250us", got ${describe(input)}` };
  }
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([^\d\s.]+)\s*$/.exec(input);
  if (!match) {
    return { ok: false, message: `must be a duration such as "2ms", "1.5s" or "250us", got ${describe(input)}` };
  }
  const [, amountText, unit] = match as unknown as [string, string, string];
  const usPerUnit = US_PER_UNIT[unit];
  if (usPerUnit === undefined) {
    return { ok: false, message: `unknown unit "${unit}" in ${describe(input)} (expected one of ${UNIT_LIST})` };
  }
  const us = Number(amountText) * usPerUnit;
  const wholeUs = Math.round(us);
  // Decimal fractions such as 1.1 × 10⁶ are not exact in binary; accept float noise only.
  if (Math.abs(us - wholeUs) > 1e-6 * Math.max(1, us)) {
    return { ok: false, message: `must be a whole number of microseconds, got ${describe(input)}` };
  }
  return { ok: true, us: wholeUs };
}

/** `1500000` → `1.5s`: the shortest exact spelling of a µs value in the scenario's units. */
export function formatDurationUs(us: number): string {
  if (us === 0) return '0s';
  if (us % 60_000_000 === 0) return `${us / 60_000_000}m`;
  if (us >= 1_000_000 && us % 1000 === 0) return `${us / 1_000_000}s`;
  if (us % 1000 === 0) return `${us / 1000}ms`;
  return `${us}us`;
}

function durationField(label: { min: number; max: number; missing: string }) {
  return z.unknown().transform((input, ctx): number => {
    if (input === undefined) {
      ctx.issues.push({ code: 'custom', input, message: `missing: ${label.missing}` });
      return z.NEVER;
    }
    const parsed = parseDurationUs(input);
    if (!parsed.ok) {
      ctx.issues.push({ code: 'custom', input, message: parsed.message });
      return z.NEVER;
    }
    if (parsed.us < label.min || parsed.us > label.max) {
      const bound = parsed.us < label.min ? `at least ${formatDurationUs(label.min)}` : `at most ${formatDurationUs(label.max)}`;
      ctx.issues.push({ code: 'custom', input, message: `must be ${bound}, got ${describe(input)}` });
      return z.NEVER;
    }
    return parsed.us;
  });
}

// ---------------------------------------------------------------------------------------
// Message helpers

/** How a given value reads in a message: strings quoted, structures named. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 37)}…` : value;
    return JSON.stringify(shown);
  }
  return String(value);
}

/** Error callback for a leaf: `missing: …` when absent, else `<expected>, got <value>`. */
function leafError(expected: string, missing: string) {
  return (issue: { input?: unknown }) =>
    issue.input === undefined ? `missing: ${missing}` : `${expected}, got ${describe(issue.input)}`;
}

/**
 * An integer in [min, max], checked in one step so a wrong value gives one message. (Not
 * z.int(): its failure aborts the enclosing object's and list's rules, which would then
 * hide problems such as duplicates or rate-vs-model from the same report.)
 */
function intInRange(min: number, max: number, what: string, missing: string) {
  const error = leafError(`must be an integer ${min}–${max}${what}`, missing);
  return z.unknown().transform((input, ctx): number => {
    if (typeof input === 'number' && Number.isInteger(input) && input >= min && input <= max) return input;
    ctx.issues.push({ code: 'custom', input, message: error({ input }) });
    return z.NEVER;
  });
}

/** A string out of a fixed set; `future` values get "not supported yet" instead of "unknown". */
function nameFrom<const T extends readonly [string, ...string[]]>(
  values: T,
  noun: string,
  future: readonly string[] = [],
) {
  return z.enum(values, {
    error: (issue) => {
      if (issue.input === undefined) return `missing: one of ${values.join(', ')}`;
      if (typeof issue.input === 'string' && future.includes(issue.input)) {
        return `"${issue.input}" is not supported yet (supported: ${values.join(', ')})`;
      }
      return `unknown ${noun} ${describe(issue.input)} (expected one of ${values.join(', ')})`;
    },
  });
}

type Ctx = z.core.$RefinementCtx<unknown[]>;

/**
 * A non-empty list of unique items. The checks run even when some items are invalid
 * (zod would skip them), and duplicates are only reported among valid items so a wrong
 * name is not reported twice.
 */
function uniqueList<T extends z.ZodType>(
  item: T,
  opts: { noun: string; choices: string; isValid: (v: unknown) => boolean; allowEmpty?: boolean },
) {
  const expected = `${opts.noun === 'services value' ? 'integers' : `${opts.noun}s`} (${opts.choices})`;
  const listError = leafError(`must be a list of ${expected}`, `a list of ${expected}`);
  return z.array(item, { error: listError }).superRefine(
    (values: unknown[], ctx: Ctx) => {
      if (values.length === 0 && !opts.allowEmpty) {
        ctx.addIssue({ code: 'custom', input: values, message: `must list at least one ${opts.noun} (${opts.choices})` });
        return;
      }
      const firstIndex = new Map<unknown, number>();
      values.forEach((value, index) => {
        if (!opts.isValid(value)) return;
        const first = firstIndex.get(value);
        if (first === undefined) firstIndex.set(value, index);
        else ctx.addIssue({ code: 'custom', input: value, path: [index], message: `${describe(value)} is listed twice (also at index ${first})` });
      });
    },
    { when: (payload) => Array.isArray(payload.value) },
  );
}

/** Runs an object-level rule when the object is a mapping and the named fields parsed cleanly. */
function whenFieldsValid(...keys: string[]) {
  return {
    when: (payload: z.core.ParsePayload) =>
      isMapping(payload.value) && !payload.issues.some((issue) => issue.path !== undefined && issue.path.length > 0 && keys.includes(String(issue.path[0]))),
  };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------
// The schema

const mappingError = (keys: string, missing: string) => leafError(`must be a mapping (${keys})`, missing);

const workloadShape = {
  responseBytes: intInRange(0, RESPONSE_BYTES_MAX, ' (bytes, at most 1 MiB)', 'a response size in bytes').default(1024),
  delay: durationField({ min: 0, max: DELAY_MAX_US, missing: 'a duration such as "0ms"' }).prefault('0ms'),
  server: nameFrom(WORKLOAD_SERVERS, 'workload server').optional(),
};

const workloadSchema = z
  .strictObject(workloadShape, { error: mappingError('responseBytes, delay, server', 'a mapping') })
  .transform((w): Workload => ({ responseBytes: w.responseBytes, delayUs: w.delay, ...(w.server ? { server: w.server } : {}) }));

const loadShape = {
  model: nameFrom(LOAD_MODELS, 'load model').default('open'),
  rate: z
    .unknown()
    .transform((input, ctx): number | undefined => {
      if (input === undefined) return undefined;
      if (typeof input === 'number' && Number.isFinite(input) && input >= RATE_MIN && input <= RATE_MAX) return input;
      const bounds = `requests per second, ${RATE_MIN}–${RATE_MAX}`;
      const why =
        typeof input === 'number' && Number.isFinite(input) && input > RATE_MAX
          ? ` (one driver process cannot pace more; its backlog of unsent requests would grow without bound)`
          : typeof input === 'number' && input > 0 && input < RATE_MIN
            ? ' (slower rates leave too few requests in a measured window for any percentile)'
            : '';
      ctx.issues.push({ code: 'custom', input, message: `must be a number of ${bounds}${why}, got ${describe(input)}` });
      return z.NEVER;
    })
    .optional(),
  connections: intInRange(1, CONNECTIONS_MAX, '', 'a number of connections').default(16),
  duration: durationField({ min: DURATION_MIN_US, max: DURATION_MAX_US, missing: 'a measured duration such as "20s" (1s–60m)' }),
  warmup: durationField({ min: 0, max: WARMUP_MAX_US, missing: 'a duration such as "2s"' }).prefault('2s'),
  driver: nameFrom(DRIVERS, 'load driver').default('native'),
  spread: nameFrom(LOAD_SPREADS, 'load spread').default('even'),
  hotShare: z
    .number({ error: leafError('must be a share of the traffic in (0, 1], e.g. 0.9', '') })
    .gt(0, { error: leafError('must be a share of the traffic in (0, 1], e.g. 0.9', '') })
    .lte(1, { error: leafError('must be a share of the traffic in (0, 1], e.g. 0.9', '') })
    .optional(),
};

const loadSchema = z
  .strictObject(loadShape, {
    error: mappingError(Object.keys(loadShape).join(', '), 'a mapping with at least duration, and rate for the open model'),
  })
  .superRefine(
    (load, ctx) => {
      const model = load.model ?? 'open';
      if (model === 'open' && load.rate === undefined) {
        ctx.addIssue({
          code: 'custom',
          input: undefined,
          path: ['rate'],
          message: 'missing: the open model needs a rate in requests per second, e.g. 300 (or use model: closed)',
        });
      }
      if (model === 'closed' && load.rate !== undefined) {
        ctx.addIssue({
          code: 'custom',
          input: load.rate,
          path: ['rate'],
          message: `not allowed with the closed model (it sends as fast as the connections allow), got ${load.rate}; remove it or use model: open`,
        });
      }
    },
    whenFieldsValid('model', 'rate'),
  )
  .superRefine(
    (load, ctx) => {
      if (load.driver === 'wrk' && (load.model ?? 'open') === 'open') {
        ctx.addIssue({
          code: 'custom',
          input: load.driver,
          path: ['driver'],
          message: 'wrk runs only with the closed model (it cannot pace a fixed rate); use model: closed or driver: autocannon',
        });
      }
    },
    whenFieldsValid('model', 'driver'),
  )
  .superRefine(
    (load, ctx) => {
      if (load.hotShare !== undefined && load.spread !== 'hot') {
        ctx.addIssue({
          code: 'custom',
          input: load.hotShare,
          path: ['hotShare'],
          message: `only with spread: hot (the share of the hot service), got ${load.hotShare} with spread ${load.spread ?? 'even'}`,
        });
      }
    },
    whenFieldsValid('spread', 'hotShare'),
  )
  .transform(
    (load): LoadSettings => ({
      model: load.model,
      ...(load.rate === undefined ? {} : { rate: load.rate }),
      connections: load.connections,
      durationMs: load.duration / 1000,
      warmupMs: load.warmup / 1000,
      driver: load.driver,
      ...(load.spread === 'hot' ? { spread: 'hot' as const, hotShare: load.hotShare ?? DEFAULT_HOT_SHARE } : {}),
    }),
  );

const grpcShape = {
  method: nameFrom(GRPC_METHODS, 'gRPC method').default('unary'),
  messagesPerStream: intInRange(1, MESSAGES_PER_STREAM_MAX, ' (replies per streaming call)', 'a number of replies per stream').optional(),
  streamsPerConnection: intInRange(1, STREAMS_PER_CONNECTION_MAX, ' (calls in flight per HTTP/2 connection)', 'a number of streams').default(1),
};

const grpcSchema = z
  .strictObject(grpcShape, { error: mappingError(Object.keys(grpcShape).join(', '), 'a mapping') })
  .superRefine(
    (grpc, ctx) => {
      if (grpc.method === 'unary' && grpc.messagesPerStream !== undefined) {
        ctx.addIssue({
          code: 'custom',
          input: grpc.messagesPerStream,
          path: ['messagesPerStream'],
          message: `only with method: stream (a unary call has one reply), got ${grpc.messagesPerStream} with method unary`,
        });
      }
    },
    whenFieldsValid('method', 'messagesPerStream'),
  )
  .transform(
    (grpc): GrpcSettings => ({
      method: grpc.method,
      messagesPerStream: grpc.method === 'stream' ? (grpc.messagesPerStream ?? GRPC_DEFAULT_MESSAGES_PER_STREAM) : 1,
      streamsPerConnection: grpc.streamsPerConnection,
    }),
  );

const platformSchema = nameFrom(PLATFORMS, 'platform');

// ---- kind / kubernetes keys (top level, only with those platforms) ----

/** Which platforms each cluster key belongs to. */
const CLUSTER_KEY_PLATFORMS = {
  context: ['kubernetes'],
  image: ['kind', 'kubernetes'],
  kind: ['kind'],
  placement: ['local', 'kind', 'kubernetes'],
  versions: ['kind', 'kubernetes'],
} as const satisfies Record<string, readonly PlatformName[]>;
const CLUSTER_KEYS = Object.keys(CLUSTER_KEY_PLATFORMS) as Array<keyof typeof CLUSTER_KEY_PLATFORMS>;

/** An image reference as docker and kubelets take it: [registry[:port]/]path[:tag][@sha256:digest]. */
const IMAGE_REFERENCE =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const imageReference = (missing: string) =>
  z
    .string({ error: leafError('must be an image reference such as "ghcr.io/you/meshbench:0.1.0"', missing) })
    .max(IMAGE_REFERENCE_MAX, { error: (issue) => `must be an image reference of at most ${IMAGE_REFERENCE_MAX} characters, got ${(issue.input as string).length}` })
    .regex(IMAGE_REFERENCE, { error: leafError('must be an image reference such as "ghcr.io/you/meshbench:0.1.0"', '') });

const VERSION = /^\d+\.\d+\.\d+$/;
const versionField = (tool: string) =>
  z
    .string({ error: leafError(`must be ${/^[AEIOU]/.test(tool) ? 'an' : 'a'} ${tool} version such as "1.2.3"`, '') })
    .regex(VERSION, { error: leafError(`must be ${/^[AEIOU]/.test(tool) ? 'an' : 'a'} ${tool} version such as "1.2.3" (major.minor.patch)`, '') })
    .optional();

const kindShape = {
  nodes: z
    .unknown()
    .transform((input, ctx): KindNodeCount => {
      if ((KIND_NODE_COUNTS as readonly unknown[]).includes(input)) return input as KindNodeCount;
      ctx.issues.push({
        code: 'custom',
        input,
        message: `must be ${KIND_NODE_COUNTS.join(' or ')} (one node, or a control plane and two workers as in kind-configs/), got ${describe(input)}`,
      });
      return z.NEVER;
    })
    .default(1),
  config: z
    .string({ error: leafError('must be the path of a kind config file (.yaml)', '') })
    .max(PATH_MAX, { error: (issue) => `must be a path of at most ${PATH_MAX} characters, got ${(issue.input as string).length}` })
    .regex(/\.ya?ml$/, { error: leafError('must be the path of a kind config file ending in .yaml', '') })
    .optional(),
  nodeImage: imageReference('').optional(),
};
const kindSchema = z.strictObject(kindShape, { error: mappingError(Object.keys(kindShape).join(', '), 'a mapping') });

const versionsShape = { istio: versionField('Istio'), cilium: versionField('Cilium') };
const versionsSchema = z.strictObject(versionsShape, { error: mappingError(Object.keys(versionsShape).join(', '), 'a mapping') });

const clusterShape = {
  context: z
    .string({ error: leafError('must be the name of a kubeconfig context', '') })
    .min(1, { error: leafError('must be the name of a kubeconfig context', '') })
    .max(CONTEXT_MAX, { error: (issue) => `must be a context name of at most ${CONTEXT_MAX} characters, got ${(issue.input as string).length}` })
    .optional(),
  image: imageReference('').optional(),
  kind: kindSchema.optional(),
  placement: nameFrom(PLACEMENTS, 'placement').optional(),
  versions: versionsSchema.optional(),
};

const scenarioShape = {
  name: z
    .string({ error: leafError('must be a name of lowercase letters, digits and dashes', 'a name of lowercase letters, digits and dashes, e.g. "quick"') })
    .transform((name, ctx): string => {
      // One message per name, length first: a 10 000-character name is not echoed whole.
      if (name.length > NAME_MAX) {
        ctx.issues.push({ code: 'custom', input: name, message: `must be at most ${NAME_MAX} characters (lowercase letters, digits and dashes), got ${name.length} characters` });
        return z.NEVER;
      }
      if (!/^[a-z0-9-]+$/.test(name)) {
        ctx.issues.push({ code: 'custom', input: name, message: `must be lowercase letters, digits and dashes ([a-z0-9-]+), got ${describe(name)}` });
        return z.NEVER;
      }
      return name;
    }),
  platform: platformSchema.default('local'),
  meshes: uniqueList(nameFrom(MESH_NAMES, 'mesh'), {
    noun: 'mesh',
    choices: `one or more of ${MESH_NAMES.join(', ')}`,
    isValid: (v) => (MESH_NAMES as readonly unknown[]).includes(v),
  }).default(() => [...MESH_NAMES]),
  protocols: uniqueList(nameFrom(PROTOCOLS, 'protocol', FUTURE_PROTOCOLS), {
    noun: 'protocol',
    choices: `one or more of ${PROTOCOLS.join(', ')}`,
    isValid: (v) => (PROTOCOLS as readonly unknown[]).includes(v),
  }).default(() => [...DEFAULT_PROTOCOLS]),
  security: uniqueList(nameFrom(SECURITY_MODES, 'security mode'), {
    noun: 'security mode',
    choices: `one or more of ${SECURITY_MODES.join(', ')}`,
    isValid: (v) => (SECURITY_MODES as readonly unknown[]).includes(v),
  }).optional(), // absent: plaintext only (Scenario.security)
  services: uniqueList(intInRange(SERVICES_MIN, SERVICES_MAX, '', 'a number of services'), {
    noun: 'services value',
    choices: `${SERVICES_MIN}–${SERVICES_MAX}, e.g. [1, 10]`,
    isValid: (v) => Number.isInteger(v) && (v as number) >= SERVICES_MIN && (v as number) <= SERVICES_MAX,
  }),
  chain: uniqueList(intInRange(1, CHAIN_MAX, '', 'a chain length'), {
    noun: 'chain length',
    choices: `1–${CHAIN_MAX}, e.g. [1, 2, 3]`,
    isValid: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= CHAIN_MAX,
  }).optional(), // absent: [1] (Scenario.chain)
  workload: workloadSchema.prefault({}),
  load: loadSchema,
  grpc: grpcSchema.optional(),
  repeats: intInRange(1, REPEATS_MAX, '', 'a number of repeats').default(3),
  idle: durationField({ min: 0, max: IDLE_MAX_US, missing: 'a duration such as "10s"' }).optional(),
  probes: uniqueList(nameFrom(PROBE_NAMES, 'probe'), {
    noun: 'probe',
    choices: `any of ${PROBE_NAMES.join(', ')}; [] for none`,
    isValid: (v) => (PROBE_NAMES as readonly unknown[]).includes(v),
    allowEmpty: true,
  }).default(() => [...PROBE_NAMES]),
  nodes: z.unknown().optional(), // checked with the platform below: 1 or 2 on local only
  ...clusterShape,
};

/** Top-level and nested keys, for "unknown key" messages. */
const KNOWN_KEYS: Record<string, string[]> = {
  '': Object.keys(scenarioShape).filter((key) => !(CLUSTER_KEYS as string[]).includes(key)),
  workload: Object.keys(workloadShape),
  load: Object.keys(loadShape),
  grpc: Object.keys(grpcShape),
  kind: Object.keys(kindShape),
  versions: Object.keys(versionsShape),
};
/** Top-level keys as a kind/kubernetes scenario may use them, in schema order. */
const CLUSTER_TOP_LEVEL_KEYS = [...KNOWN_KEYS['']!, ...CLUSTER_KEYS];

export const scenarioSchema = z
  .strictObject(scenarioShape, {
    error: (issue) =>
      `the scenario must be a mapping of keys (${KNOWN_KEYS['']!.join(', ')}), got ${describe(issue.input)}`,
  })
  .superRefine(
    (s, ctx) => {
      const platform = s.platform;
      for (const key of CLUSTER_KEYS) {
        const allowed: readonly PlatformName[] = CLUSTER_KEY_PLATFORMS[key];
        if (s[key] !== undefined && !allowed.includes(platform)) {
          ctx.addIssue({
            code: 'custom',
            input: s[key],
            path: [key],
            message: `only with platform ${allowed.join(' or ')}, got platform ${platform}`,
          });
        }
      }
      if (platform === 'kubernetes') {
        if (s.context === undefined) {
          ctx.addIssue({
            code: 'custom',
            input: undefined,
            path: ['context'],
            message: 'missing: the kubeconfig context of the existing cluster (platform kubernetes never falls back to the current context)',
          });
        }
        if (s.image === undefined) {
          ctx.addIssue({
            code: 'custom',
            input: undefined,
            path: ['image'],
            message: 'missing: an image the cluster can pull, built from the Dockerfile, e.g. "ghcr.io/you/meshbench:0.1.0"',
          });
        }
      }
    },
    whenFieldsValid('platform'),
  )
  .superRefine(
    (s, ctx) => {
      const nodes = s.kind?.nodes ?? 1;
      if (s.platform === 'kind' && s.placement === 'cross-node' && nodes < 3) {
        ctx.addIssue({
          code: 'custom',
          input: s.placement,
          path: ['placement'],
          message: `cross-node needs two worker nodes, got kind.nodes ${nodes}; use kind.nodes: 3 or placement: same-node`,
        });
      }
    },
    whenFieldsValid('platform', 'kind', 'placement'),
  )
  .superRefine(
    (s, ctx) => {
      if (s.grpc !== undefined && !s.protocols.includes('grpc')) {
        ctx.addIssue({ code: 'custom', input: s.grpc, path: ['grpc'], message: 'only with grpc in protocols, e.g. protocols: [http1, grpc]' });
      }
    },
    whenFieldsValid('protocols', 'grpc'),
  )
  .superRefine(
    (s, ctx) => {
      const grpcAt = s.protocols.indexOf('grpc');
      if (grpcAt >= 0 && !GRPC_PLATFORMS.includes(s.platform)) {
        ctx.addIssue({
          code: 'custom',
          input: 'grpc',
          path: ['protocols', grpcAt],
          message: `"grpc" runs on platform ${GRPC_PLATFORMS.join(', ')} only so far (kind and kubernetes deploy the HTTP workload), got platform ${s.platform}`,
        });
      }
    },
    whenFieldsValid('platform', 'protocols'),
  )
  .superRefine(
    (s, ctx) => {
      const grpcAt = s.protocols.indexOf('grpc');
      if (grpcAt >= 0 && (s.load as LoadSettings).driver === 'wrk') {
        ctx.addIssue({
          code: 'custom',
          input: 'wrk',
          path: ['load', 'driver'],
          message: 'wrk speaks HTTP/1.1 only, and protocols has grpc; use driver: native (or autocannon) or drop grpc',
        });
      }
    },
    whenFieldsValid('load', 'protocols'),
  )
  .superRefine(
    (s, ctx) => {
      // Every service that gets traffic needs a connection of its own (all of them, unless
      // spread hot gives the hot one everything).
      const load = s.load as LoadSettings;
      const largest = Math.max(...s.services);
      const needed = load.spread === 'hot' && load.hotShare === 1 ? 1 : largest;
      if (load.connections < needed) {
        ctx.addIssue({
          code: 'custom',
          input: load.connections,
          path: ['load', 'connections'],
          message: `must be at least one per service that gets traffic (${needed}, from services ${largest}), got ${load.connections}`,
        });
      }
    },
    whenFieldsValid('services', 'load'),
  )
  .superRefine(
    (s, ctx) => {
      if (s.workload.server === 'native' && s.platform !== 'local') {
        ctx.addIssue({
          code: 'custom',
          input: s.workload.server,
          path: ['workload', 'server'],
          message: `the native server runs on platform local only so far (the kind/kubernetes image starts the Node server), got platform ${s.platform}; use server: node or leave it out`,
        });
      }
    },
    whenFieldsValid('platform', 'workload'),
  )
  .superRefine(
    (s, ctx) => {
      if (s.idle && s.platform !== 'local') {
        ctx.addIssue({
          code: 'custom',
          input: s.idle,
          path: ['idle'],
          message: `the idle window runs on platform local only so far (kind and kubernetes cells start their load at once), got platform ${s.platform}`,
        });
      }
    },
    whenFieldsValid('platform', 'idle'),
  )
  .superRefine(
    (s, ctx) => {
      // A chain's hops are the native server's upstream mode (HTTP/1.1) on the local platform.
      const longest = Math.max(1, ...(s.chain ?? [1]));
      if (longest === 1) return;
      const at = s.chain!.indexOf(longest);
      const problem = (message: string): void => void ctx.addIssue({ code: 'custom', input: longest, path: ['chain', at], message });
      if (s.platform !== 'local') problem(`chains run on platform local only so far, got platform ${s.platform}; use chain: [1]`);
      if (s.protocols.includes('grpc')) problem('chains carry HTTP/1.1 only so far (the server app forwards HTTP/1.1), and protocols has grpc; drop grpc or use chain: [1]');
      if (s.workload.server === 'node') problem('chains need the native server (its --upstream mode), got workload.server node; leave server out or use chain: [1]');
      const largest = Math.max(...s.services);
      if (largest * longest > SERVICES_MAX) problem(`services × chain must be at most ${SERVICES_MAX} server pods, got ${largest} × ${longest}`);
    },
    whenFieldsValid('platform', 'protocols', 'workload', 'services', 'chain'),
  )
  .superRefine(
    (s, ctx) => {
      if (s.nodes !== undefined && s.platform !== 'local') {
        ctx.addIssue({ code: 'custom', input: s.nodes, path: ['nodes'], message: `only with platform local (two nodes joined by a wire; kind: kind.nodes), got platform ${s.platform}` });
      } else if (s.nodes !== undefined && s.nodes !== 1 && s.nodes !== 2) {
        ctx.addIssue({ code: 'custom', input: s.nodes, path: ['nodes'], message: `must be 1 or 2 (nodes of the local platform, joined by a wire), got ${describe(s.nodes)}` });
      } else if (s.platform === 'local' && s.placement !== undefined && s.nodes !== 2) {
        ctx.addIssue({
          code: 'custom',
          input: s.placement,
          path: ['placement'],
          message: `only with nodes: 2 on platform local (or with platform kind or kubernetes), got nodes ${describe(s.nodes ?? 1)}; add nodes: 2 or leave placement out`,
        });
      }
    },
    whenFieldsValid('platform', 'placement'),
  )
  .transform(
    (s): Scenario => ({
      name: s.name,
      platform: s.platform,
      meshes: s.meshes as MeshName[],
      protocols: s.protocols as Protocol[],
      ...(s.security ? { security: s.security as Security[] } : {}),
      services: s.services,
      ...(s.chain && s.chain.some((length) => length !== 1) ? { chain: s.chain } : {}),
      workload: s.workload,
      load: s.load,
      ...(s.protocols.includes('grpc') ? { grpc: s.grpc ?? { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1 } } : {}),
      repeats: s.repeats,
      probes: s.probes as ProbeName[],
      ...(s.idle ? { idleMs: s.idle / 1000 } : {}),
      ...(s.platform === 'local' && s.nodes === 2 ? { topology: { nodes: 2 as const, placement: s.placement ?? 'same-node' } } : {}),
      ...(s.platform === 'local' ? {} : { cluster: clusterSettings(s) }),
    }),
  );

function clusterSettings(s: { [K in keyof typeof clusterShape]?: z.output<(typeof clusterShape)[K]> } & { platform: PlatformName }): ClusterSettings {
  const settings: ClusterSettings = { placement: s.placement ?? 'same-node', versions: { ...s.versions } };
  if (s.context !== undefined) settings.context = s.context;
  if (s.image !== undefined) settings.image = s.image;
  if (s.platform === 'kind') {
    const kind = s.kind;
    settings.kind = { nodes: kind?.nodes ?? 1 };
    if (kind?.config !== undefined) settings.kind.config = kind.config;
    if (kind?.nodeImage !== undefined) settings.kind.nodeImage = kind.nodeImage;
  }
  return settings;
}

// ---------------------------------------------------------------------------------------
// Problems

/** `['meshes', 1]` → `meshes[1]`; `['load', 'rate']` → `load.rate`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text === '' ? String(key) : `.${String(key)}`;
  }
  return text;
}

/**
 * The zod issues of a scenario parse as problems with field paths; unknown keys one each.
 * `platform` widens the top-level keys a message lists to the kind/kubernetes ones.
 */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], platform: PlatformName = 'local'): InputProblem[] {
  const problems: InputProblem[] = [];
  const topLevel = platform === 'local' ? KNOWN_KEYS['']! : CLUSTER_TOP_LEVEL_KEYS;
  const keysOf = (parent: string): string[] => (parent === '' ? topLevel : (KNOWN_KEYS[parent] ?? []));
  for (const issue of issues) {
    const at = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const known = keysOf(at);
      for (const key of issue.keys) {
        const home = Object.keys(KNOWN_KEYS).find(
          (parent) => parent !== at && (keysOf(parent).includes(key) || (parent === '' && (CLUSTER_KEYS as string[]).includes(key))),
        );
        const suggestion = closestKey(key, known);
        const hint =
          home !== undefined
            ? `it belongs ${home === '' ? 'at the top level' : `under ${home}`}; `
            : suggestion !== undefined
              ? `did you mean "${suggestion}"? `
              : '';
        // A key is echoed whole only when it is short (a 10 000-character key is not).
        const shownKey = key.length > 40 ? `${key.slice(0, 37)}…` : key;
        problems.push({
          path: at === '' ? shownKey : `${at}.${shownKey}`,
          message: `unknown key ${JSON.stringify(shownKey)} (${hint}expected one of ${known.join(', ')})`,
        });
      }
      continue;
    }
    problems.push({ path: at, message: issue.message });
  }
  return sortByField(problems);
}

/**
 * Orders problems as the fields appear in the schema (list items by index, unknown keys
 * after the known ones of their mapping), so a long report reads top to bottom.
 */
function sortByField(problems: InputProblem[]): InputProblem[] {
  const rank = (path: string): number[] => {
    const ranks: number[] = [];
    let parent = '';
    for (const part of path.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
      if (part.startsWith('[')) {
        ranks.push(Number(part.slice(1, -1)));
        continue;
      }
      const known = (parent === '' ? CLUSTER_TOP_LEVEL_KEYS : KNOWN_KEYS[parent])?.indexOf(part) ?? -1;
      ranks.push(known === -1 ? 1000 : known);
      parent = parent === '' ? part : `${parent}.${part}`;
    }
    return ranks;
  };
  const compare = (a: number[], b: number[]): number => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  };
  return problems
    .map((problem, order) => ({ problem, order, rank: rank(problem.path) }))
    .sort((a, b) => compare(a.rank, b.rank) || a.order - b.order)
    .map((entry) => entry.problem);
}

/** A known key within two edits of the unknown one, for typos such as `reapeats`. */
function closestKey(key: string, known: string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export type ScenarioValidation = { ok: true; scenario: Scenario } | { ok: false; problems: InputProblem[] };

/** Validates already-parsed YAML/JSON data; every problem at once. */
export function validateScenario(data: unknown): ScenarioValidation {
  const result = scenarioSchema.safeParse(data);
  if (result.success) return { ok: true, scenario: result.data };
  const platform = isMapping(data) && (PLATFORMS as readonly unknown[]).includes(data.platform) ? (data.platform as PlatformName) : 'local';
  return { ok: false, problems: problemsFromIssues(result.error.issues, platform) };
}
