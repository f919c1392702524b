// The cell planner: which measurements a scenario asks for, and in which order.
//
// Order matters for trust: a host drifts (thermal, page cache, neighbours), so cells of
// different meshes are interleaved and the mesh order rotates from repeat to repeat.
// Repeat r (1-based) starts at mesh (r-1) mod n of the scenario's list: with the default
// list, repeat 1 runs baseline, sidecar, ebpf, ebpf-l4; repeat 2 sidecar, ebpf, ebpf-l4,
// baseline; and so on, so every mesh takes every position equally often over n repeats.
import type { Cell, MeshName, Protocol, Scenario } from './types.ts';

export function cellId(mesh: MeshName, protocol: Protocol, services: number, repeat: number): string {
  return `${mesh}-${protocol}-s${services}-r${repeat}`;
}

/** The scenario's meshes in the order repeat `repeat` (1-based) runs them. */
export function meshOrderForRepeat(meshes: readonly MeshName[], repeat: number): MeshName[] {
  const offset = (repeat - 1) % meshes.length;
  return [...meshes.slice(offset), ...meshes.slice(0, offset)];
}

/**
 * meshes × protocols × services × repeats cells, in run order: repeat-major; within a repeat,
 * for each services value then protocol, every mesh one after another (rotated order).
 */
export function planCells(s: Scenario): Cell[] {
  const cells: Cell[] = [];
  for (let repeat = 1; repeat <= s.repeats; repeat++) {
    const meshOrder = meshOrderForRepeat(s.meshes, repeat);
    for (const services of s.services) {
      for (const protocol of s.protocols) {
        for (const mesh of meshOrder) {
          cells.push({ id: cellId(mesh, protocol, services, repeat), mesh, protocol, services, repeat, index: cells.length });
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
    (total, cell) => total + cellSetupAllowanceMs(cell.services) + (s.idleMs ?? 0) + s.load.warmupMs + s.load.durationMs,
    0,
  );
}
