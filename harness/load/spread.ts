// From the scenario's `load.spread` to the driver's per-target weights (LoadSpec.weights):
// none for `even` (every service alike, round robin), hotWeights for `hot`.
import { DEFAULT_HOT_SHARE, type LoadSettings } from '../scenario/types.ts';
import { hotWeights } from './schedule.ts';

/** Weights for `targetCount` services, in service order; undefined when the spread is even. */
export function spreadWeights(load: Pick<LoadSettings, 'spread' | 'hotShare'>, targetCount: number): number[] | undefined {
  if (load.spread !== 'hot' || targetCount < 2) return undefined;
  return hotWeights(targetCount, load.hotShare ?? DEFAULT_HOT_SHARE);
}
