// The cell planner: which measurements a scenario asks for, and in which order.
//
// Order matters for trust: a host drifts (thermal, page cache, neighbours), so cells of
// different meshes are interleaved and the mesh order rotates from repeat to repeat.
// Repeat r (1-based) starts at mesh (r-1) mod n of the scenario's list: with the default
// list, repeat 1 runs baseline, sidecar, ebpf, ebpf-l4; repeat 2 sidecar, ebpf, ebpf-l4,
// baseline; and so on, so every mesh takes every position equally often over n repeats.
//
// Security modes multiply the cells like protocols do, except for the reference mesh: it has
// no data path of its own to encrypt, so it runs plaintext only and every mode's cells are
// compared with it (as published mTLS figures compare a mesh with mTLS against no mesh).
import { REFERENCE_MESH, type Cell, type MeshName, type Protocol, type Scenario, type Security } from './types.ts';

/** `sidecar-http1-s10-r2`; a cell with mtls `sidecar-http1-mtls-s10-r2` (plaintext ids as before the axis). */
export function cellId(mesh: MeshName, protocol: Protocol, services: number, repeat: number, security: Security = 'plaintext'): string {
  return `${mesh}-${protocol}${security === 'plaintext' ? '' : `-${security}`}-s${services}-r${repeat}`;
}

/** `sidecar-http1-s1-r1` with a chain of 3: `sidecar-http1-s1-c3-r1` (chain 1 ids as before the axis). */
export function chainCellId(id: string, chain: number): string {
  return chain === 1 ? id : id.replace(/-r(\d+)$/, `-c${chain}-r$1`);
}

/** The security modes a mesh's cells run in: the scenario's, the reference mesh plaintext only. */
export function securityModesFor(mesh: MeshName, modes: readonly Security[]): Security[] {
  return mesh === REFERENCE_MESH ? ['plaintext'] : [...modes];
}

/** The scenario's meshes in the order repeat `repeat` (1-based) runs them. */
export function meshOrderForRepeat(meshes: readonly MeshName[], repeat: number): MeshName[] {
  const offset = (repeat - 1) % meshes.length;
  return [...meshes.slice(offset), ...meshes.slice(0, offset)];
}

/**
 * meshes × protocols × security × services × repeats cells, in run order: repeat-major;
 * within a repeat, for each services value, protocol and security mode, every mesh one after
 * another (rotated order). The reference mesh runs once per services × protocol (plaintext).
 */
export function planCells(s: Scenario): Cell[] {
  const cells: Cell[] = [];
  const modes: Security[] = s.security ?? ['plaintext'];
  for (let repeat = 1; repeat <= s.repeats; repeat++) {
    const meshOrder = meshOrderForRepeat(s.meshes, repeat);
    for (const services of s.services) {
      for (const chain of s.chain ?? [1]) {
        for (const protocol of s.protocols) {
          for (const security of modes) {
            for (const mesh of meshOrder) {
              if (!securityModesFor(mesh, modes).includes(security)) continue;
              const id = chainCellId(cellId(mesh, protocol, services, repeat, security), chain);
              // chain only on the cells of a scenario with the axis (cells of older results have none)
              cells.push({ id, mesh, protocol, security, services, ...(s.chain ? { chain } : {}), repeat, index: cells.length });
            }
          }
        }
      }
    }
  }
  return cells;
}

/**
 * Set-up and tear-down allowance per cell, on top of warm-up + measured time: creating the
 * node and pods (netns, veth, cgroup), installing the mesh (proxies, iptables, bpf
 * programs), starting the workload and probes, then removing it all. A fixed part plus a
 * part per service, since every service adds a server pod (and a sidecar, with that mesh).
 * An estimate for planning and progress, not a limit.
 */
export const CELL_SETUP_BASE_MS = 5_000;
export const CELL_SETUP_PER_SERVICE_MS = 200;

export function cellSetupAllowanceMs(services: number): number {
  return CELL_SETUP_BASE_MS + CELL_SETUP_PER_SERVICE_MS * services;
}

/** Expected wall-clock time of the whole run: Σ over cells of (set-up + idle + warm-up + duration). */
export function estimateDurationMs(s: Scenario): number {
  return planCells(s).reduce(
    (total, cell) => total + cellSetupAllowanceMs(cell.services * (cell.chain ?? 1)) + (s.idleMs ?? 0) + s.load.warmupMs + s.load.durationMs,
    0,
  );
}
