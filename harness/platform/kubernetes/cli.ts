// What the command line adds to a scenario for these platforms: `--platform` and
// `--context` override the file, checked as the file's own keys are (exit 2 on a bad one).
import { InputError } from '../../errors.ts';
import { PLATFORMS, type PlatformName, type Scenario } from '../../scenario/types.ts';

export function withPlatformFlags(scenario: Scenario, flags: { platform?: string; context?: string }): Scenario {
  const platform = (flags.platform ?? scenario.platform) as PlatformName;
  if (!(PLATFORMS as readonly string[]).includes(platform)) {
    throw new InputError('--platform', [{ path: '--platform', message: `unknown platform "${flags.platform}" (expected one of ${PLATFORMS.join(', ')})` }]);
  }
  if (flags.context !== undefined && platform !== 'kubernetes') {
    throw new InputError('--context', [{ path: '--context', message: `only with platform kubernetes, got platform ${platform}` }]);
  }
  if (platform === 'local') {
    const { cluster: _dropped, ...local } = scenario;
    return { ...local, platform };
  }
  const cluster = { placement: 'same-node' as const, versions: {}, ...scenario.cluster };
  if (platform === 'kind') {
    delete cluster.context;
    cluster.kind ??= { nodes: 1 };
    if (cluster.placement === 'cross-node' && cluster.kind.nodes < 3) {
      throw new InputError('--platform', [{ path: 'placement', message: 'cross-node needs two worker nodes: the scenario has no kind.nodes: 3' }]);
    }
  } else {
    delete cluster.kind;
    if (flags.context !== undefined) cluster.context = flags.context;
    const problems = [
      ...(cluster.context === undefined ? [{ path: 'context', message: 'missing: give --context or context: in the scenario (platform kubernetes never falls back to the current context)' }] : []),
      ...(cluster.image === undefined ? [{ path: 'image', message: 'missing: platform kubernetes needs image: in the scenario (an image the cluster can pull)' }] : []),
    ];
    if (problems.length > 0) throw new InputError('--platform', problems);
  }
  return { ...scenario, platform, cluster };
}
