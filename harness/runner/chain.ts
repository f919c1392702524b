// Service chains (scenario `chain`): a request enters service 1, whose server app calls
// service 2 through the mesh before answering, and so on; the workload's delay is made at
// the last service. With `services` S and a chain of d, the cell has S chains side by side:
// entry services 1..S are hop 1, and service i's next hop is service i + S, so services
// (k−1)·S+1 … k·S are hop k. A chain of 1 is the plain cell (every service answers itself).
//
// Every hop is a real mesh hop: the server app is a client of the next service's VIP (its
// own keep-alive pool, native/server.c --upstream), so its connection is captured as the
// client's is — the pod's sidecar outbound, the socket LB's connect4, the node's DNAT.
// Requests per hop therefore equal the driver's; a sidecar path crosses 2 × d proxies, a
// node proxy path d node proxy traversals, ebpf-l4 none.

export interface ChainHop {
  /** 1-based service index. */
  service: number;
  /** 1-based position in its chain (1: the entry service the driver calls). */
  hop: number;
  /** The service this one calls before answering; absent at the last hop. */
  upstream?: number;
}

/** Every service of a cell of `services` chains of length `chain`, in service order. */
export function chainHops(services: number, chain: number): ChainHop[] {
  if (!Number.isInteger(services) || services < 1) throw new RangeError(`services must be a positive integer, got ${services}`);
  if (!Number.isInteger(chain) || chain < 1) throw new RangeError(`chain must be a positive integer, got ${chain}`);
  return Array.from({ length: services * chain }, (_, i) => {
    const service = i + 1;
    const hop = Math.floor(i / services) + 1;
    return { service, hop, ...(hop < chain ? { upstream: service + services } : {}) };
  });
}

/** The chain length of a cell (cells without the axis: 1). */
export function chainOf(cell: { chain?: number }): number {
  return cell.chain ?? 1;
}

/** What a server app's /_meshbench/stats says (native/server.c), the part read here. */
interface ServerAppStats {
  requests: number;
  upstream?: { requests: number; responses: number; errors: number };
}

/**
 * Requests each server app counted (warm-up included, as the proxies' counters), by
 * service: `server-app:s<i>`, and for a hop that calls another its upstream errors
 * (`server-app-upstream-errors:s<i>`). Read inside the pod from 127.0.0.1, which no capture
 * and no socket LB touches, so reading them adds to no other counter.
 */
export async function serverAppCounters(
  cluster: { exec(where: { netns: string }, cmd: string, args: readonly string[]): Promise<{ stdout: string }> },
  servers: ReadonlyArray<{ netns: string }>,
  services: ReadonlyArray<{ name: string; targetPort: number }>,
): Promise<Record<string, number>> {
  const counters: Record<string, number> = {};
  await Promise.all(
    servers.map(async (pod, i) => {
      const service = services[i]!;
      const url = `http://127.0.0.1:${service.targetPort}/_meshbench/stats`;
      const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then((t) => process.stdout.write(t))`;
      const r = await cluster.exec(pod, process.execPath, ['-e', script]);
      const stats = JSON.parse(r.stdout) as ServerAppStats;
      counters[`server-app:${service.name}`] = stats.requests;
      if (stats.upstream) counters[`server-app-upstream-errors:${service.name}`] = stats.upstream.errors;
    }),
  );
  return counters;
}
