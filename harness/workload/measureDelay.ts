// Measures the added-delay options of the workload server: error (fire time − due time)
// and CPU cost, at a given arrival rate, each mode against a no-delay baseline.
//   node --import tsx harness/workload/measureDelay.ts [--rate 1000] [--delay-us 2000] [--seconds 5]
// Run it pinned (taskset -c 1) to see the cost on one CPU, as the server runs.
import { parseArgs } from 'node:util';
import { createPreciseTimer, nowUs, type PreciseDelayMode, type PreciseTimer } from './preciseDelay.ts';

interface ModeResult {
  mode: PreciseDelayMode | 'none';
  compensationUs: number;
  fired: number;
  errorUs: { min: number; p50: number; p90: number; p99: number; p999: number; max: number };
  cpuPctOfOneCore: number;
  cpuUsPerTimer: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(mode: PreciseDelayMode | 'none', rate: number, delayUs: number, seconds: number): Promise<ModeResult> {
  const timer: PreciseTimer | undefined = mode === 'none' ? undefined : await createPreciseTimer({ mode });
  const errors: number[] = [];
  const perTickMs = 1;
  let owed = 0;
  const startUs = nowUs();
  const endUs = startUs + seconds * 1e6;
  const cpu0 = process.cpuUsage();
  const wall0 = nowUs();
  let lastUs = startUs;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = nowUs();
      if (t >= endUs) return resolve();
      const elapsedUs = t - lastUs;
      owed += (elapsedUs / 1e6) * rate;
      lastUs = t;
      // Arrivals come in ~1 ms batches (timer ticks); spread their due times evenly over
      // the batch, as requests arriving one by one would be, and let each "arrival" fire
      // what is due, as the server does.
      const batch = Math.floor(owed);
      for (let j = 0; j < batch; j++) {
        owed--;
        timer?.fireDue();
        const d = delayUs + (j * elapsedUs) / batch;
        const due = nowUs() + d;
        if (timer) timer.schedule(d, () => errors.push(nowUs() - due));
        else errors.push(0);
      }
      setTimeout(tick, perTickMs);
    };
    tick();
  });
  // let the last timers fire
  await new Promise((r) => setTimeout(r, delayUs / 1000 + 20));
  const cpu = process.cpuUsage(cpu0);
  const wallUs = nowUs() - wall0;
  await timer?.close();
  errors.sort((a, b) => a - b);
  const cpuUs = cpu.user + cpu.system;
  const r = (x: number): number => Math.round(x * 10) / 10;
  return {
    mode,
    compensationUs: r(timer?.compensationUs ?? 0),
    fired: errors.length,
    errorUs: {
      min: r(errors[0] ?? 0),
      p50: r(pct(errors, 50)),
      p90: r(pct(errors, 90)),
      p99: r(pct(errors, 99)),
      p999: r(pct(errors, 99.9)),
      max: r(errors[errors.length - 1] ?? 0),
    },
    cpuPctOfOneCore: r((cpuUs / wallUs) * 100),
    cpuUsPerTimer: r(cpuUs / Math.max(1, errors.length)),
  };
}

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    'delay-us': { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '5' },
    modes: { type: 'string', default: 'none,worker,timer,spin' },
  },
});
const rate = Number(values.rate);
const delayUs = Number(values['delay-us']);
const seconds = Number(values.seconds);
for (const mode of values.modes!.split(',') as (PreciseDelayMode | 'none')[]) {
  const result = await measure(mode, rate, delayUs, seconds);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
