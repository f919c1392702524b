// The mesh registry: every data path is one module (harness/mesh/<name>.ts), listed here
// once. Adding a mesh is one new module, one line below and its name in the scenario's list
// (harness/scenario/types.ts MESH_NAMES); the checker refuses a module that lacks a part
// and a name without a module. Nothing outside the modules branches on a mesh's name: the
// platforms, reports and doctor ask the module.
import type { MeshName, Security } from '../scenario/types.ts';
import { ambient } from './ambient.ts';
import { baseline } from './baseline.ts';
import { ebpf } from './ebpf.ts';
import { ebpfL4 } from './ebpfL4.ts';
import { sidecar } from './sidecar.ts';
import type { KubeMesh, Mesh, MeshModule } from './types.ts';
import { waypoint } from './waypoint.ts';

const BUILT_IN: { readonly [N in MeshName]: MeshModule<N> } = {
  baseline,
  sidecar,
  ebpf,
  'ebpf-l4': ebpfL4,
  ambient,
  waypoint,
};

const registry = new Map<string, MeshModule<string>>(Object.values(BUILT_IN).map((m) => [m.name, m]));

/**
 * Registers a mesh module beyond the built-in ones (a test's throwaway mesh, a plugin). A
 * scenario file can only name the built-in meshes; a scenario built in code can name this one.
 */
export function registerMesh(module: MeshModule<string>): () => void {
  if (registry.has(module.name)) throw new Error(`mesh ${module.name} is already registered`);
  registry.set(module.name, module);
  return () => void registry.delete(module.name);
}

/** Every registered mesh, built-in ones first in their order (the order of every chart legend). */
export function meshModules(): MeshModule<string>[] {
  return [...registry.values()];
}

export function registeredMesh(name: string): boolean {
  return registry.has(name);
}

export function meshModule(name: string): MeshModule<string> {
  const module = registry.get(name);
  if (!module) throw new Error(`unknown mesh "${name}" (registered: ${[...registry.keys()].join(', ')})`);
  return module;
}

/** A fresh local implementation for one cell. */
export function createMesh(name: string): Mesh {
  return meshModule(name).local();
}

/** A fresh Kubernetes part for one cell, in its security mode. */
export function createKubeMesh(name: string, security?: Security): KubeMesh {
  return meshModule(name).kube(security ? { security } : {});
}
