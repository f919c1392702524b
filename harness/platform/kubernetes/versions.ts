// Every version the kind and kubernetes platforms install or expect, pinned here and
// nowhere else: the harness installs these, the nightly workflow downloads these CLIs
// (`node --import tsx harness/platform/kubernetes/versions.ts --env` prints them as KEY=value),
// and result.json records what actually ran (environment.tools).
//
// Compatibility of the set: kind 0.25.0 ships the Kubernetes 1.31.2 node image below
// (digest from its release notes); Istio 1.24 and Cilium 1.16 both support Kubernetes
// 1.31; the cilium CLI 0.16 installs Cilium 1.16 through its Helm chart.
import { fileURLToPath } from 'node:url';

export const PINNED_VERSIONS = {
  kind: '0.25.0',
  kindNodeImage: 'kindest/node:v1.31.2@sha256:18fbefc20a7113353c7b75b5c869d7145a6abd6269154825872dc59c1329912e',
  kubernetes: '1.31.2',
  kubectl: '1.31.2',
  istio: '1.24.2',
  cilium: '1.16.5',
  ciliumCli: '0.16.22',
  helm: '3.16.3',
} as const;

export type PinnedTool = keyof typeof PINNED_VERSIONS;

/** The Istio and Cilium versions a run uses: the scenario's `versions` override the pins. */
export function meshVersions(overrides: { istio?: string; cilium?: string }): { istio: string; cilium: string } {
  return { istio: overrides.istio ?? PINNED_VERSIONS.istio, cilium: overrides.cilium ?? PINNED_VERSIONS.cilium };
}

/** `KIND_VERSION=0.25.0` lines, for CI steps that download the CLIs. */
export function versionsAsEnv(): string {
  const envName = (key: string): string => `${key.replace(/([A-Z])/g, '_$1').toUpperCase()}_VERSION`;
  return Object.entries(PINNED_VERSIONS)
    .map(([key, value]) => `${key === 'kindNodeImage' ? 'KIND_NODE_IMAGE' : envName(key)}=${value}`)
    .join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(process.argv.includes('--env') ? `${versionsAsEnv()}\n` : `${JSON.stringify(PINNED_VERSIONS, null, 2)}\n`);
}
