// CiliumNetworkPolicy (cilium.io/v2) as a typed object with a validate() like the
// kubernetes-models classes. No Cilium models package runs on Node 20 (the only release of
// @kubernetes-models/cilium needs Node 22), so the part of the CRD's schema meshbench writes
// is spelled out here from the CRD (ciliumnetworkpolicies.cilium.io, v2): field names,
// the port/protocol formats and enums, and the CRD's rule that a spec has exactly one of
// endpointSelector/nodeSelector and at least one of ingress/ingressDeny/egress/egressDeny.
// Unknown fields are errors here (the API server would prune them silently).
import { z } from 'zod';

const labelSelector = z.strictObject({
  matchLabels: z.record(z.string().max(63), z.string().max(63)).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string(),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

const portProtocol = z.strictObject({
  // The CRD: a port number 0–65535 or an IANA service name, as a string.
  port: z.string().regex(/^(\d{1,4}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5]|[a-zA-Z0-9]-?([a-zA-Z0-9]+-?)*[a-zA-Z0-9])$/),
  endPort: z.number().int().min(0).max(65535).optional(),
  protocol: z.enum(['TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPV6', 'VRRP', 'IGMP', 'ANY']).optional(),
});

const httpRule = z.strictObject({
  method: z.string().optional(),
  path: z.string().optional(),
  host: z.string().optional(),
  headers: z.array(z.string()).optional(),
});

const portRule = z.strictObject({
  ports: z.array(portProtocol).max(40).optional(),
  rules: z.strictObject({ http: z.array(httpRule).optional() }).optional(),
});

const ingressRule = z.strictObject({
  fromEndpoints: z.array(labelSelector).optional(),
  fromEntities: z.array(z.enum(['all', 'world', 'cluster', 'host', 'remote-node', 'kube-apiserver', 'ingress', 'init', 'health', 'unmanaged', 'none'])).optional(),
  toPorts: z.array(portRule).optional(),
});

const cnpSchema = z.strictObject({
  apiVersion: z.literal('cilium.io/v2'),
  kind: z.literal('CiliumNetworkPolicy'),
  metadata: z.looseObject({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/).max(253),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: z
    .strictObject({
      description: z.string().optional(),
      endpointSelector: labelSelector.optional(),
      nodeSelector: labelSelector.optional(),
      ingress: z.array(ingressRule).optional(),
      ingressDeny: z.array(ingressRule).optional(),
      egress: z.array(z.unknown()).optional(),
      egressDeny: z.array(z.unknown()).optional(),
    })
    .refine((s) => (s.endpointSelector === undefined) !== (s.nodeSelector === undefined), {
      message: 'must have exactly one of endpointSelector and nodeSelector',
    })
    .refine((s) => s.ingress !== undefined || s.ingressDeny !== undefined || s.egress !== undefined || s.egressDeny !== undefined, {
      message: 'must have at least one of ingress, ingressDeny, egress, egressDeny',
    }),
});

export type CiliumNetworkPolicyData = z.input<typeof cnpSchema>;

export class CiliumNetworkPolicy {
  readonly apiVersion = 'cilium.io/v2';
  readonly kind = 'CiliumNetworkPolicy';
  metadata: CiliumNetworkPolicyData['metadata'];
  spec: CiliumNetworkPolicyData['spec'];

  constructor(data: Omit<CiliumNetworkPolicyData, 'apiVersion' | 'kind'>) {
    this.metadata = data.metadata;
    this.spec = data.spec;
  }

  /** Throws with every problem and its path, as the kubernetes-models classes do. */
  validate(): void {
    const result = cnpSchema.safeParse(this.toJSON());
    if (!result.success) {
      throw new Error(result.error.issues.map((i) => `data/${i.path.join('/')} ${i.message}`).join(', '));
    }
  }

  toJSON(): CiliumNetworkPolicyData {
    return { apiVersion: this.apiVersion, kind: this.kind, metadata: this.metadata, spec: this.spec };
  }
}
