// The scenario as the program sees it after validation (schema.ts produces exactly this).
// Durations are normalised to microseconds/milliseconds; units are in the names.

export const MESH_NAMES = ['baseline', 'sidecar', 'ebpf', 'ebpf-l4'] as const;
export type MeshName = (typeof MESH_NAMES)[number];

export const PROTOCOLS = ['http1'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export type LoadModel = 'open' | 'closed';

export interface Workload {
  /** Size of each response body. */
  responseBytes: number;
  /** Server-side added latency per request. */
  delayUs: number;
}

export interface LoadSettings {
  model: LoadModel;
  /** Requests per second over all services (open model only). */
  rate?: number;
  /** Connections from the client pod, spread over the services. */
  connections: number;
  durationMs: number;
  warmupMs: number;
  /** Load driver for HTTP/1.1 cells. */
  driver: 'autocannon' | 'wrk';
}

export interface Scenario {
  name: string;
  platform: 'local';
  meshes: MeshName[];
  protocols: Protocol[];
  /** Services (server pods, each behind its own VIP) per node, one cell group each. */
  services: number[];
  workload: Workload;
  load: LoadSettings;
  repeats: number;
}

/** One measurement: a mesh × protocol × services combination in one repeat. */
export interface Cell {
  /** Stable id, e.g. `sidecar-http1-s10-r2`. */
  id: string;
  mesh: MeshName;
  protocol: Protocol;
  services: number;
  /** 1-based repeat number. */
  repeat: number;
  /** Position in the run's interleaved order (0-based). */
  index: number;
}
