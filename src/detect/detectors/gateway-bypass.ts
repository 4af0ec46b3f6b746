/**
 * gateway-bypass: traffic to an external host that did not go through the egress gateway: a sidecar
 * sent it via PassthroughCluster (ALLOW_ANY) or via its own cluster for an external ServiceEntry
 * host; in ambient mode, ztunnel sent it straight to an external address (no waypoint). Unmonitored
 * egress is exactly what the seed's attacker wants.
 */
import { z } from 'zod';
import type { EgressEvent } from '../../identity/types.js';
import { hostMatch } from '../../policy/match.js';
import { type DetectorSpec, destName, eventFinding, type RuleSpec } from '../spec.js';
import type { Detector, Emit } from '../types.js';

export const GatewayBypassConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
    paths: z
      .array(z.enum(['passthrough', 'direct-external']))
      .default(['passthrough', 'direct-external'])
      .describe('Which sidecar paths count as bypassing the gateway.'),
    ignoreHosts: z
      .array(z.string())
      .default([])
      .describe('Host patterns allowed to go direct (e.g. a cloud metadata API).'),
  })
  .strict();
export type GatewayBypassConfig = z.infer<typeof GatewayBypassConfigSchema>;

/** The rule it raises (see spec.ts). */
const RULE = {
  id: 'gateway-bypass',
  name: 'Egress gateway bypass',
  severity: 'high',
  realert: '24h',
  firesWhen: 'path passthrough / direct-external to an external host',
} as const satisfies RuleSpec;

export class GatewayBypassDetector implements Detector {
  readonly ruleId = RULE.id;

  constructor(private readonly config: GatewayBypassConfig) {}

  observe(event: EgressEvent, emit: Emit): void {
    if (!event.destination.external || !(this.config.paths as string[]).includes(event.path)) return;
    const dest = destName(event);
    // A name only the client gave (SNI/authority through PassthroughCluster) cannot exempt a
    // connection: the IP it went to is matched instead.
    const ignoreBy = event.destination.nameUnverified === true ? (event.destination.ip ?? '?') : dest;
    if (this.config.ignoreHosts.some((p) => hostMatch(p, ignoreBy))) return;
    const via =
      event.ambient === 'ztunnel'
        ? event.path === 'passthrough'
          ? 'ztunnel with no ServiceEntry for it (ambient mode passes unknown addresses through, REGISTRY_ONLY does not apply)'
          : `ztunnel to ServiceEntry ${event.destination.host ?? ''} with no waypoint (ambient mode does not block it)`
        : event.path === 'passthrough'
          ? 'PassthroughCluster'
          : `its own cluster ${event.cluster ?? ''}`.trim();
    emit(
      eventFinding(
        event,
        this.ruleId,
        RULE.severity,
        `${event.source.key} -> ${dest}`,
        `${event.source.key} reached external ${dest}:${event.destination.port} directly via ${via}, bypassing the egress ${event.ambient == null ? 'gateway' : 'waypoint'}.`,
        {
          cluster: event.cluster,
          ...(event.ambient == null ? {} : { proxy: event.ambient }),
          bytesUp: event.bytesUp,
          bytesDown: event.bytesDown,
        },
      ),
    );
  }

  advance(): void {}

  stateSize(): number {
    return 0;
  }
}

export const gatewayBypassSpec: DetectorSpec<GatewayBypassConfig, typeof RULE.id> = {
  rules: [RULE],
  summary: 'Traffic to an external host that did not go through the egress gateway.',
  config: GatewayBypassConfigSchema,
  create: (config) => new GatewayBypassDetector(config),
};
