import type { MeshName } from '../scenario/types.ts';
import { BaselineMesh } from './baseline.ts';
import { EbpfMesh } from './ebpf.ts';
import { EbpfL4Mesh } from './ebpfL4.ts';
import { SidecarMesh } from './sidecar.ts';
import type { Mesh } from './types.ts';

const FACTORIES: Record<MeshName, () => Mesh> = {
  baseline: () => new BaselineMesh(),
  sidecar: () => new SidecarMesh(),
  ebpf: () => new EbpfMesh(),
  'ebpf-l4': () => new EbpfL4Mesh(),
};

/** A fresh mesh instance for one cell. */
export function createMesh(name: MeshName): Mesh {
  return FACTORIES[name]();
}
