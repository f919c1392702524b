// The load stage's public face: pick a driver by name, run it behind a spawn prefix.
import { runDriverProcess } from './process.ts';
import { wrkDriver } from './wrk.ts';
import type { LoadDriver } from './types.ts';

export type { DriverOutcome, DriverRunOptions, LoadAccounting, LoadDriver, LoadSpec, LoadTarget } from './types.ts';
export { toLoadOutcome } from './types.ts';
export { runDriverProcess } from './process.ts';
export { runWrkLoad, wrkDriver } from './wrk.ts';
export { runAutocannonLoad } from './autocannon.ts';
export { parseLoadSpec } from './spec.ts';

/** autocannon in a process of its own (driverMain.ts), started behind the spawn prefix. */
export const autocannonDriver: LoadDriver = {
  name: 'autocannon',
  run: (spec, options = {}) => runDriverProcess(spec, options.spawnPrefix ?? [], { signal: options.signal, onSpawn: options.onSpawn }),
};

export function loadDriver(name: 'autocannon' | 'wrk'): LoadDriver {
  return name === 'wrk' ? wrkDriver : autocannonDriver;
}
