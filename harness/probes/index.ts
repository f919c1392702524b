// The eBPF probes' client: start a loader, track components, read their figures.
export { startProbes, ProbeError, DEFAULT_LOADER_PATH } from './session.ts';
export { probeSupport } from './support.ts';
export { percentileUs, slotBoundsUs, slotOfUs, mergeHistograms, latencyFigures } from './histogram.ts';
export * from './types.ts';
