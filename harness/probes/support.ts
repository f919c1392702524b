// Which probes this host can run, for `meshbench doctor`: loads every probe once (one
// loader, all probes; each is loaded and attached on its own) and reports why any failed.
import { existsSync } from 'node:fs';
import { startProbes, DEFAULT_LOADER_PATH, ProbeError } from './session.ts';
import { PROBE_NAMES, type ProbeName, type ProbeSupport } from './types.ts';

export async function probeSupport(options: { loaderPath?: string } = {}): Promise<Record<ProbeName, ProbeSupport>> {
  const loaderPath = options.loaderPath ?? DEFAULT_LOADER_PATH;
  const all = (why: string): Record<ProbeName, ProbeSupport> =>
    Object.fromEntries(PROBE_NAMES.map((p) => [p, { ok: false, why }])) as Record<ProbeName, ProbeSupport>;

  if (!existsSync(loaderPath)) return all(`${loaderPath} is not built (make -C bpf)`);
  if (process.getuid?.() !== 0) return all('needs root (CAP_BPF, CAP_PERFMON)');
  try {
    const session = await startProbes({ probes: PROBE_NAMES, loaderPath, commandTimeoutMs: 5_000 });
    const result = Object.fromEntries(
      PROBE_NAMES.map((p): [ProbeName, ProbeSupport] => {
        const why = session.failed[p];
        return [p, why === undefined && session.probes.includes(p) ? { ok: true } : { ok: false, why: why ?? 'not attached' }];
      }),
    ) as Record<ProbeName, ProbeSupport>;
    await session.kill();
    return result;
  } catch (error) {
    const failed = error instanceof ProbeError ? error.failed : undefined;
    if (failed) {
      return Object.fromEntries(
        PROBE_NAMES.map((p): [ProbeName, ProbeSupport] => [p, { ok: false, why: failed[p] ?? (error as Error).message }]),
      ) as Record<ProbeName, ProbeSupport>;
    }
    return all((error as Error).message);
  }
}
