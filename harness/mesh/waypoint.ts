// waypoint: ambient plus one L7 proxy per service, as Istio's waypoint proxies. The node
// proxy (ztunnel-like, TCP mode, harness/mesh/ambient.ts) captures the client's connection
// and tunnels it to the service's waypoint — a pod of its own running the run's L7 proxy
// (HAProxy in HTTP mode: it parses every request, routes, pools its upstream connections) —
// which sends each request on through a tunnel to the node proxy's inbound side for the
// chosen endpoint, which hands it to the server.
// Path: client → node proxy → waypoint (L7) → node proxy → server.
//
// security mtls: both tunnel legs are mutual TLS 1.3 (the waypoint's certificate:
// spiffe://cluster.local/ns/default/sa/waypoint-<service>); plaintext: the same legs in
// clear (Istio has no such mode; it isolates the TLS share of the cost).
//
// On Kubernetes: Istio's ambient profile and one waypoint per service — a Gateway of class
// istio-waypoint per service (what `istioctl waypoint apply --name <svc>-waypoint` creates),
// the Service labelled istio.io/use-waypoint=<svc>-waypoint; the Gateway API CRDs must be
// installed on the cluster (Istio's ambient guide installs them first).
import { z } from 'zod';
import type { Manifest } from '../platform/kubernetes/manifests.ts';
import { serviceName } from '../platform/kubernetes/names.ts';
import type { Pod } from '../platform/local/cluster.ts';
import type { RunningProxy } from '../proxy/types.ts';
import {
  AmbientKubeMesh, AmbientMesh, inboundPort, strictPeerAuthentication, ztunnelConnectionsCounter, ztunnelContainer, type TunnelTarget,
} from './ambient.ts';
import { assertNoFailedHandshakes, tlsTotals } from './sidecar.ts';
import type { TlsFiles } from './tls.ts';
import type { Component, KubeMesh, MeshContainer, MeshContext, MeshManifestContext, MeshModule, PathCounter, Service } from './types.ts';

/** The port a waypoint takes tunnels on (HBONE's 15008). */
export const WAYPOINT_PORT = 15008;

export const waypointPodName = (service: Service): string => `waypoint-${service.name}`;

export class WaypointMesh extends AmbientMesh {
  override readonly name = 'waypoint';
  override readonly path = 'client → node proxy (L4) → tunnel → waypoint (L7, one per service) → tunnel → node proxy (L4) → server';
  private readonly waypoints = new Map<string, { pod: Pod; proxy: RunningProxy; tls?: TlsFiles }>();

  protected override async installBeforeNodeProxy(ctx: MeshContext): Promise<void> {
    const node = ctx.cluster.node;
    const pods = await ctx.cluster.addPods(ctx.services.map((s) => ({ name: waypointPodName(s), role: 'waypoint' as const })));
    await Promise.all(
      ctx.services.map(async (service, i) => {
        const pod = pods[i]!;
        const tls = this.pki ? await this.pki.filesFor(pod.name) : undefined;
        const proxy = await ctx.proxy.start(
          ctx.cluster,
          pod,
          {
            id: `${pod.name}-proxy`,
            perService: {
              bindIp: pod.ip,
              listeners: [{
                listenPort: WAYPOINT_PORT,
                route: {
                  name: service.name,
                  vip: service.vip,
                  port: service.port,
                  endpoints: service.endpoints.map((endpoint) => ({
                    ip: (endpoint.node ?? node).ip, // the endpoint's node proxy's inbound side
                    port: inboundPort(endpoint),
                    ...(this.tls ? { tlsName: this.tls.dnsName } : {}),
                  })),
                },
              }],
            },
            ...(tls ? { tls: { certFile: tls.certFile, caFile: tls.caFile, inbound: true, upstream: true } } : {}),
          },
          {},
        );
        this.waypoints.set(service.name, { pod, proxy, ...(tls ? { tls } : {}) });
      }),
    );
  }

  /** Every connection of a service goes to its waypoint. */
  protected override targetsOf(service: Service): TunnelTarget[] {
    const waypoint = this.waypoints.get(service.name)!;
    return [{ ip: waypoint.pod.ip, port: WAYPOINT_PORT, tlsName: waypoint.tls?.dnsName ?? '' }];
  }

  override components(): Component[] {
    return [
      ...super.components(),
      ...[...this.waypoints.values()].map(({ pod, proxy }) => ({
        id: `${pod.name}/waypoint`,
        role: 'waypoint' as const,
        pod: pod.name,
        pid: proxy.process.pid,
        cgroupV2: proxy.process.cgroupV2,
      })),
    ];
  }

  /** The node proxy's counters, and per waypoint: HTTP requests taken and sent on, TLS sessions both ways. */
  override async pathCounters(): Promise<Record<string, number>> {
    const counters = await super.pathCounters();
    const failures: Array<{ where: string; failed: number }> = [];
    for (const [serviceName, { pod, proxy }] of this.waypoints) {
      const stats = await proxy.stats();
      counters[`${pod.name}:requests`] = stats.requestsByListener[serviceName] ?? 0;
      counters[`${pod.name}:upstream-requests`] = stats.requestsByUpstream[serviceName] ?? 0;
      counters[`${pod.name}:connections`] = stats.connectionsByListener?.[serviceName] ?? 0;
      if (!this.tls) continue;
      const inbound = tlsTotals(stats, 'inbound');
      const upstream = tlsTotals(stats, 'upstream');
      counters[`${pod.name}:inbound-tls-handshakes`] = inbound.handshakes;
      counters[`${pod.name}:upstream-tls-handshakes`] = upstream.handshakes;
      counters[`${pod.name}:upstream-tls-resumed`] = upstream.resumed;
      failures.push({ where: `${pod.name} (inbound)`, failed: inbound.failed }, { where: `${pod.name} (upstream)`, failed: upstream.failed });
    }
    assertNoFailedHandshakes(failures);
    return counters;
  }
}

// ---------------------------------------------------------------------------------------
// Kubernetes: a Gateway (gateway.networking.k8s.io/v1) of class istio-waypoint per service.
// No Gateway API models package is in the project; the part meshbench writes is checked here
// against the CRD's rules (names, the listener's protocol HBONE on 15008, allowedRoutes).

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(63);
const gatewaySchema = z.strictObject({
  apiVersion: z.literal('gateway.networking.k8s.io/v1'),
  kind: z.literal('Gateway'),
  metadata: z.strictObject({
    name: dnsLabel,
    namespace: dnsLabel,
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.strictObject({
    gatewayClassName: z.literal('istio-waypoint'),
    listeners: z
      .array(
        z.strictObject({
          name: dnsLabel,
          port: z.number().int().min(1).max(65535),
          protocol: z.literal('HBONE'),
          allowedRoutes: z.strictObject({ namespaces: z.strictObject({ from: z.enum(['All', 'Same', 'Selector']) }) }).optional(),
        }),
      )
      .min(1)
      .max(64),
  }),
});

export class WaypointGateway implements Manifest {
  readonly apiVersion = 'gateway.networking.k8s.io/v1' as const;
  readonly kind = 'Gateway' as const;
  constructor(
    readonly metadata: { name: string; namespace: string; labels: Record<string, string> },
    readonly spec: z.infer<typeof gatewaySchema>['spec'],
  ) {}

  validate(): void {
    const parsed = gatewaySchema.safeParse(this.toJSON());
    if (!parsed.success) throw new Error(`Gateway ${this.metadata.name}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }

  toJSON(): Record<string, unknown> {
    return { apiVersion: this.apiVersion, kind: this.kind, metadata: this.metadata, spec: this.spec };
  }
}

export const kubeWaypointName = (serviceName: string): string => `${serviceName}-waypoint`;

export class WaypointKubeMesh extends AmbientKubeMesh implements KubeMesh {
  override readonly name = 'waypoint';
  override readonly path = 'client → ztunnel → HBONE → waypoint (Envoy, one per service) → HBONE → ztunnel → server';
  override readonly provenBy = { counter: 'waypoint.requests', note: 'no request counted by the waypoints: the L7 path is not proven' };

  override objects(ctx: MeshManifestContext): Manifest[] {
    const serviceNames = Array.from({ length: ctx.services ?? 0 }, (_, i) => serviceName(i + 1));
    return [
      strictPeerAuthentication(ctx),
      ...serviceNames.map(
        (service) =>
          new WaypointGateway(
            { name: kubeWaypointName(service), namespace: ctx.namespace, labels: { ...ctx.labels, 'istio.io/waypoint-for': 'service' } },
            {
              gatewayClassName: 'istio-waypoint',
              listeners: [{ name: 'mesh', port: WAYPOINT_PORT, protocol: 'HBONE', allowedRoutes: { namespaces: { from: 'Same' } } }],
            },
          ),
      ),
    ];
  }

  /** The label each server Service gets so its traffic passes its waypoint. */
  serviceLabels(serviceName: string): Record<string, string> {
    return { 'istio.io/use-waypoint': kubeWaypointName(serviceName) };
  }

  override containers(): MeshContainer[] {
    return [
      ztunnelContainer(),
      { role: 'waypoint', namespace: 'cell', labelSelector: 'gateway.istio.io/managed=istio.io-mesh-controller', container: 'istio-proxy' },
    ];
  }

  override pathCounters(): PathCounter[] {
    return [
      ztunnelConnectionsCounter(),
      {
        name: 'waypoint.requests',
        namespace: 'cell',
        labelSelector: 'gateway.istio.io/managed=istio.io-mesh-controller',
        serversNodeOnly: false,
        port: 15020,
        path: '/stats/prometheus',
        metric: 'istio_requests_total',
        labels: { reporter: 'waypoint' },
      },
    ];
  }

  override notes(): string[] {
    return [...super.notes(), 'waypoints need the Gateway API CRDs on the cluster (gateway.networking.k8s.io/v1)'];
  }
}

export const waypoint: MeshModule<'waypoint'> = {
  name: 'waypoint',
  description:
    'ambient with one L7 proxy per service, as Istio waypoints: client → node proxy (L4) → tunnel → the service’s waypoint (its own pod, HTTP parsing and routing) → tunnel → node proxy → server; mTLS on both tunnel legs with mtls',
  phrase: 'ambient with waypoint proxies',
  colour: '#e09f3e',
  requires: {
    local: ['iptables', 'proxy'],
    cluster: 'istio',
    flavour: 'kube',
    kindTool: { tool: 'istioctl', why: 'installs Istio (ambient profile: istio-cni, ztunnel) for the ambient meshes' },
    istioProfile: 'ambient',
  },
  clusterProxy: (versions) => `ztunnel + waypoint Envoy (Istio ${versions.istio})`,
  local: () => new WaypointMesh(),
  kube: () => new WaypointKubeMesh(),
};
