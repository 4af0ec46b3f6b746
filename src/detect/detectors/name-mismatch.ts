/**
 * name-mismatch: the names on a connection contradict where it went, or each other (#15). SNI and
 * HTTP authority are the client's to choose; the address the proxy connected to and the cluster it
 * used are not. The normaliser marks two contradictions (identity/types.ts `NameClaim`):
 * - an in-mesh name (`kubernetes.default.svc.cluster.local`, a name without a dot, Istio's
 *   `outbound_.` SNI) on a connection to an address outside the mesh that no cluster vouches for:
 *   a workload dressing egress up as internal traffic (the event is judged on its IP everywhere else);
 * - SNI and authority naming different registrable domains on one connection: domain fronting.
 * Each is a finding with both names and the address in the evidence.
 */
import { z } from 'zod';
import type { EgressEvent } from '../../identity/types.js';
import { type DetectorSpec, eventFinding, formatBytes, type RuleSpec } from '../spec.js';
import type { Detector, Emit } from '../types.js';

export const NameMismatchConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
    kinds: z
      .array(z.enum(['mesh-name-external-address', 'sni-authority-mismatch']))
      .default(['mesh-name-external-address', 'sni-authority-mismatch'])
      .describe('Which contradictions raise a finding.'),
  })
  .strict();
export type NameMismatchConfig = z.infer<typeof NameMismatchConfigSchema>;

/** The rule it raises (see spec.ts). */
const RULE = {
  id: 'name-mismatch',
  name: 'Destination name contradicts address',
  severity: 'high',
  realert: '24h',
  firesWhen:
    "the names on a connection contradict where it went (#15): an in-mesh name (`*.svc.cluster.local`, a name without a dot, Istio's `outbound_.` SNI) on a connection to an address outside `mesh.meshCidrs` that no cluster of the proxy vouches for (`outbound|P||name`), or an SNI and an HTTP authority of different registrable domains (domain fronting). Evidence: `kind`, `sni`, `authority`, `ip`, `port`, `cluster`. The event itself is judged on its IP by every other rule and policy, so exceptions and `ignoreHosts` never match the claimed name",
} as const satisfies RuleSpec;

export class NameMismatchDetector implements Detector {
  readonly ruleId = RULE.id;

  constructor(private readonly config: NameMismatchConfig) {}

  observe(event: EgressEvent, emit: Emit): void {
    const claim = event.claim;
    if (claim === undefined || claim === null || !this.config.kinds.includes(claim.kind)) return;
    const d = event.destination;
    const where = `${d.ip ?? d.host ?? '?'}:${d.port}`;
    const key = event.source.key;
    let reason: string;
    if (claim.kind === 'mesh-name-external-address') {
      const named = [
        claim.sni === null ? null : `SNI "${claim.sni}"`,
        claim.authority === null ? null : `authority "${claim.authority}"`,
      ]
        .filter((n) => n !== null)
        .join(' and ');
      reason = `${key} connected to ${where}, outside the mesh, via ${event.cluster ?? 'no cluster'}, under the in-mesh name ${named} (${formatBytes(event.bytesUp)} up).`;
    } else {
      reason = `${key} sent SNI "${claim.sni}" with HTTP authority "${claim.authority}" to ${where}: two registrable domains on one connection (domain fronting).`;
    }
    emit(
      eventFinding(
        event,
        this.ruleId,
        RULE.severity,
        `${key} -> ${d.ip ?? d.host ?? '?'} ${claim.kind}`,
        reason,
        {
          kind: claim.kind,
          sni: claim.sni,
          authority: claim.authority,
          ip: d.ip,
          port: d.port,
          cluster: event.cluster,
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

export const nameMismatchSpec: DetectorSpec<NameMismatchConfig, typeof RULE.id> = {
  rules: [RULE],
  summary: 'The SNI or authority contradicts the address the proxy connected to, or each other.',
  config: NameMismatchConfigSchema,
  create: (config) => new NameMismatchDetector(config),
};
