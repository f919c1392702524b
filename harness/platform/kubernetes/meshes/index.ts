import type { MeshName } from '../../../scenario/types.ts';
import { BaselineKubeMesh } from './baseline.ts';
import { EbpfKubeMesh } from './ebpf.ts';
import { EbpfL4KubeMesh } from './ebpfL4.ts';
import { SidecarKubeMesh } from './sidecar.ts';
import type { KubeMesh } from './types.ts';

const FACTORIES: Record<MeshName, () => KubeMesh> = {
  baseline: () => new BaselineKubeMesh(),
  sidecar: () => new SidecarKubeMesh(),
  ebpf: () => new EbpfKubeMesh(),
  'ebpf-l4': () => new EbpfL4KubeMesh(),
};

export function createKubeMesh(name: MeshName): KubeMesh {
  return FACTORIES[name]();
}
