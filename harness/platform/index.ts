// The platform a scenario runs on, checked before anything is created: the local platform
// needs root; kind and kubernetes check tools, contexts and meshes (HostError names what is
// missing, nothing is created, not even the run directory).
import type { Scenario } from '../scenario/types.ts';
import { KubernetesPlatform } from './kubernetes/platform.ts';
import { LocalPlatform } from './local/platform.ts';
import type { Platform } from './types.ts';

export async function platformFor(scenario: Scenario): Promise<Platform> {
  if (scenario.platform === 'local') {
    LocalPlatform.check();
    return new LocalPlatform();
  }
  return KubernetesPlatform.prepare(scenario);
}
