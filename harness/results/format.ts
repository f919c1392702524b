// Numbers for humans, one spelling in every view (summary.md, the terminal table, the
// per-component tables, report.html): latencies in µs up to 1 ms, then ms, then s, with
// three significant digits; rates in req/s.

export interface Scale {
  unit: string;
  divisor: number;
  decimals: number;
}

/** Unit and precision for a latency in µs. */
export function latencyScale(us: number): Scale {
  const magnitude = Math.abs(us);
  if (Number(magnitude.toFixed(1)) < 10) return { unit: 'µs', divisor: 1, decimals: 1 };
  if (Number(magnitude.toFixed(0)) < 1000) return { unit: 'µs', divisor: 1, decimals: 0 };
  const ms = magnitude / 1000;
  const msDecimals = threeSignificantDecimals(ms);
  if (Number(ms.toFixed(msDecimals)) < 1000) return { unit: 'ms', divisor: 1000, decimals: msDecimals };
  return { unit: 's', divisor: 1_000_000, decimals: threeSignificantDecimals(magnitude / 1_000_000) };
}

export function rpsScale(rps: number): Scale {
  return { unit: 'req/s', divisor: 1, decimals: Math.abs(rps) < 100 ? 1 : 0 };
}

/** Decimals that show three significant digits of a value ≥ 1 (after rounding). */
function threeSignificantDecimals(value: number): number {
  if (Number(value.toFixed(2)) < 10) return 2;
  if (Number(value.toFixed(1)) < 100) return 1;
  return 0;
}

export function scaled(value: number, scale: Scale): string {
  return (value / scale.divisor).toFixed(scale.decimals);
}

/** `812 µs`, `1.23 ms`, `2.00 s`. */
export function formatUs(us: number): string {
  const scale = latencyScale(us);
  return `${scaled(us, scale)} ${scale.unit}`;
}

/** `300`, `12.5`: a rate in req/s, without the unit. */
export function formatRps(rps: number): string {
  return scaled(rps, rpsScale(rps));
}
