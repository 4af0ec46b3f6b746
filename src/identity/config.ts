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
      .default(['istio-egressgateway.istio-system.svc.cluster.local'])
      .describe(
        'Service hosts of egress gateways, as they appear in `outbound|PORT|SUBSET|HOST`; a leading "*" matches any prefix (e.g. "*-egress-gateway-istio.egress.svc.cluster.local").',
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
