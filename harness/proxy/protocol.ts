// A proxy that speaks a given protocol in every instance a mesh starts: the mesh builds its
// proxy configs as it always does, and this sets their `protocol`, so no mesh knows which
// protocol a cell carries.
import type { Proxy, ProxyProtocol } from './types.ts';

export function speaking(proxy: Proxy, protocol: ProxyProtocol): Proxy {
  if (protocol === 'http1') return proxy;
  return {
    name: proxy.name,
    version: () => proxy.version(),
    start: (cluster, where, config, options) => proxy.start(cluster, where, { ...config, protocol }, options),
  };
}
