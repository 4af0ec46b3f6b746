/** Mesh facts the normaliser needs: what is inside the mesh, and which hosts are egress gateways. */
import { z } from 'zod';

export const MeshConfigSchema = z
  .object({
    meshCidrs: z
      .array(
        z
          .string()
          .regex(/^[\d.]+\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/, 'expected a CIDR such as "10.0.0.0/8"'),
      )
      .default(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'])
      .describe(
        'IP ranges inside the mesh (pod and service CIDRs). Defaults to the private ranges; narrow them so on-premises private hosts count as external.',
      ),
    meshDomains: z
      .array(z.string())
      .default(['cluster.local'])
      .describe('DNS suffixes inside the mesh; names without a dot are always inside.'),
    egressGatewayHosts: z
      .array(z.string())
      .default([
        'istio-egressgateway.istio-system.svc.cluster.local',
        'egressgateway.istio-egress.svc.cluster.local',
        '*egress*-istio.*.svc.cluster.local',
      ])
      .describe(
        'Service hosts of egress gateways, as they appear in `outbound|PORT|SUBSET|HOST`; "*" matches any run of characters. The defaults cover the istio-system and istio-egress installs and Gateway API gateways named like `cnn-egress-gateway` (service `cnn-egress-gateway-istio`).',
      ),
    egressGatewayNamespaces: z
      .array(z.string().min(1))
      .default(['istio-egress'])
      .describe(
        'Namespaces that hold only egress gateways: their pods are gateways and their services gateway hosts.',
      ),
    egressGatewayLabels: z
      .object({
        istio: z.array(z.string().min(1)).default(['*egressgateway*']),
        'gateway.networking.k8s.io/gateway-name': z.array(z.string().min(1)).default(['*egress*']),
      })
      .strict()
      .prefault({})
      .describe(
        'Pod label values ("*" any run of characters) that make a pod an egress gateway; the shippers carry these two labels. A pod with an `istio` label containing "ingress", or a gateway-name label not matched here, is an ingress gateway.',
      ),
    trustDomain: z.string().default('cluster.local').describe('SPIFFE trust domain of the mesh.'),
    podIpMapSize: z
      .number()
      .int()
      .positive()
      .default(100000)
      .describe('Most pod IPs remembered for gateway attribution.'),
    podIpMaxIdleMs: z
      .number()
      .int()
      .positive()
      .default(6 * 3600 * 1000)
      .describe('Forget a pod IP owner after this long (event time) without a sidecar line from it.'),
  })
  .strict();

export type MeshConfig = z.infer<typeof MeshConfigSchema>;

/** How egress gateways are recognised, in one sentence (start-up messages of `replay` and `run`). */
export function describeGatewayConfig(m: MeshConfig): string {
  const labels = Object.entries(m.egressGatewayLabels)
    .map(([k, vs]) => vs.map((v) => `${k}=${v}`).join(', '))
    .filter((t) => t !== '')
    .join(', ');
  return [
    `service hosts ${m.egressGatewayHosts.join(', ') || '(none)'}`,
    `namespaces ${m.egressGatewayNamespaces.join(', ') || '(none)'}`,
    `pod labels ${labels || '(none)'}`,
    'and any proxy whose lines show it receiving from sidecars and sending out',
  ].join('; ');
}
