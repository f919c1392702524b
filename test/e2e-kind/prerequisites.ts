// What the end-to-end suite needs on the host: a docker engine (not just its client), kind,
// istioctl of the pinned Istio version and the cilium CLI. Where one is missing the suite
// does not run, and says so — it never reports a pass it did not earn.
import { allToolStatus, toolLabel, type KubeTool } from '../../harness/platform/kubernetes/tools.ts';
import { PINNED_VERSIONS } from '../../harness/platform/kubernetes/versions.ts';

export async function missingPrerequisites(): Promise<string[]> {
  const status = await allToolStatus();
  const missing: string[] = [];
  for (const tool of ['docker-engine', 'kind', 'istioctl', 'cilium'] as KubeTool[]) {
    if (!status[tool].present) missing.push(`${toolLabel(tool)}: ${status[tool].detail}`);
  }
  const istioctl = /(\d+\.\d+\.\d+)/.exec(status.istioctl.detail)?.[1];
  if (status.istioctl.present && istioctl !== PINNED_VERSIONS.istio) {
    missing.push(`istioctl ${PINNED_VERSIONS.istio} (pinned): found ${status.istioctl.detail}`);
  }
  return missing;
}
