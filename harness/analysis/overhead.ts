// What each mesh adds over the baseline, from finished cells. Pure: cells in, figures out.
//
// Pairing by repeat: a mesh's cell is compared with the baseline cell of the same repeat
// (same protocol and services), which ran minutes apart at most, so slow host drift
// cancels out of each difference. The median over repeats then resists one noisy repeat.
// Percentages are per-repeat too (difference / that repeat's baseline), then the median.
import { median } from 'simple-statistics';
import type { CellResult, MeshOverhead } from '../results/types.ts';
import { MESH_NAMES, PROTOCOLS, REFERENCE_MESH, type MeshName, type Protocol, type Security } from '../scenario/types.ts';

interface PairDeltas {
  p50Us: number[];
  p50Pct: number[];
  p99Us: number[];
  p99Pct: number[];
  rpsPct: number[];
}

/**
 * For each non-baseline mesh × protocol × services that has at least one repeat with a
 * baseline cell: median over repeats of (mesh − baseline) for p50 and p99 in µs and %, and
 * of the achieved-rate difference in %. Groups without any baseline cell are left out.
 * A percentage whose baseline figure is 0 in every repeat is NaN (no meaningful ratio).
 * Saturated cells are included as measured; reports flag them.
 */
export function computeOverhead(cells: readonly CellResult[]): MeshOverhead[] {
  const baselineByKey = new Map<string, CellResult>();
  for (const cell of cells) {
    if (cell.mesh === REFERENCE_MESH) baselineByKey.set(pairKey(cell.protocol, cell.services, cell.repeat), cell);
  }

  // Each security mode of a mesh is a group of its own, against the same (plaintext) baseline cells.
  const deltasByGroup = new Map<string, { mesh: MeshName; protocol: Protocol; security: Security; services: number; deltas: PairDeltas }>();
  for (const cell of cells) {
    if (cell.mesh === REFERENCE_MESH) continue;
    const baseline = baselineByKey.get(pairKey(cell.protocol, cell.services, cell.repeat));
    if (!baseline) continue;
    const groupKey = `${cell.mesh}|${cell.protocol}|${cell.security ?? 'plaintext'}|${cell.services}`;
    let group = deltasByGroup.get(groupKey);
    if (!group) {
      group = {
        mesh: cell.mesh,
        protocol: cell.protocol,
        security: cell.security ?? 'plaintext',
        services: cell.services,
        deltas: { p50Us: [], p50Pct: [], p99Us: [], p99Pct: [], rpsPct: [] },
      };
      deltasByGroup.set(groupKey, group);
    }
    const mine = cell.load;
    const base = baseline.load;
    // A cell without a single latency sample has no p50 (its zeros are "no data", issue 14).
    if (mine.latencyUs.count > 0 && base.latencyUs.count > 0) {
      group.deltas.p50Us.push(mine.latencyUs.p50 - base.latencyUs.p50);
      group.deltas.p99Us.push(mine.latencyUs.p99 - base.latencyUs.p99);
      pushPercent(group.deltas.p50Pct, mine.latencyUs.p50, base.latencyUs.p50);
      pushPercent(group.deltas.p99Pct, mine.latencyUs.p99, base.latencyUs.p99);
    }
    pushPercent(group.deltas.rpsPct, mine.achievedRps, base.achievedRps);
  }

  return [...deltasByGroup.values()]
    .sort(
      (a, b) =>
        PROTOCOLS.indexOf(a.protocol) - PROTOCOLS.indexOf(b.protocol) ||
        a.services - b.services ||
        MESH_NAMES.indexOf(a.mesh) - MESH_NAMES.indexOf(b.mesh) ||
        Number(a.security === 'mtls') - Number(b.security === 'mtls'),
    )
    .map(({ mesh, protocol, security, services, deltas }) => ({
      mesh,
      protocol,
      ...(security === 'mtls' ? { security } : {}),
      services,
      p50DeltaUs: medianOrNaN(deltas.p50Us),
      p50DeltaPct: medianOrNaN(deltas.p50Pct),
      p99DeltaUs: medianOrNaN(deltas.p99Us),
      p99DeltaPct: medianOrNaN(deltas.p99Pct),
      rpsDeltaPct: medianOrNaN(deltas.rpsPct),
    }));
}

function pairKey(protocol: Protocol, services: number, repeat: number): string {
  return `${protocol}|${services}|${repeat}`;
}

function pushPercent(into: number[], value: number, baseline: number): void {
  if (baseline !== 0) into.push(((value - baseline) / baseline) * 100);
}

function medianOrNaN(values: number[]): number {
  return values.length === 0 ? Number.NaN : median(values);
}
