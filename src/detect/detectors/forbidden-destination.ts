/**
 * forbidden-destination: a source reaches an external host its allow-list does not permit, per the
 * loaded policies (the pipeline's policy file and Istio AuthorizationPolicy at the egress gateway).
 * The alert names the policy and rule that decided, and the logged fields that decided it. Each
 * connection through the egress gateway is judged once, as joined (detect/join.ts): the sidecar's
 * identity with the gateway's destination and the principal the gateway logged (else the one the
 * sidecar's workload was learned to present there). Connections the policies cannot decide (no
 * principal known for a principal-based rule, no SNI logged for a `connection.sni` rule) are
 * counted, never alerted.
 */
import { z } from 'zod';
import type { EgressEvent } from '../../identity/types.js';
import { decisionFacts, type PolicySet } from '../../policy/policy-set.js';
import { isJoinedGatewayLeg } from '../join.js';
import { type DetectorSpec, destName, eventFinding, type RuleSpec } from '../spec.js';
import type { Detector, Emit } from '../types.js';

export const ForbiddenDestinationConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
    includeBlocked: z
      .boolean()
      .default(false)
      .describe('Also alert on attempts Istio already dropped (BlackHoleCluster).'),
  })
  .strict();
export type ForbiddenDestinationConfig = z.infer<typeof ForbiddenDestinationConfigSchema>;

/** The rule it raises (see spec.ts). */
const RULE = {
  id: 'forbidden-destination',
  name: 'Forbidden destination',
  severity: 'critical',
  realert: '24h',
  firesWhen:
    'a policy (EgressPolicy file or Istio AuthorizationPolicy) denies the host; names policy and rule',
} as const satisfies RuleSpec;

export class ForbiddenDestinationDetector implements Detector {
  readonly ruleId = RULE.id;
  undecided = 0;

  constructor(
    private readonly config: ForbiddenDestinationConfig,
    private readonly policies: PolicySet,
  ) {}

  observe(event: EgressEvent, emit: Emit): void {
    if (this.policies.empty || !event.destination.external) return;
    // A gateway leg joined to its sidecar's leg: that leg, carrying this one's destination and the
    // principal the gateway logged, is the connection and is judged; this one would count it twice.
    if (isJoinedGatewayLeg(event)) return;
    const p = event.path;
    if (p === 'internal' || p === 'inbound' || (p === 'blackhole' && !this.config.includeBlocked)) return;
    const d = this.policies.decideEvent(event);
    if (d.verdict === 'unknown') {
      this.undecided++;
      return;
    }
    if (d.verdict !== 'deny') return;
    const dest = destName(event);
    const rule = d.ruleIndex === null ? '' : ` rule ${d.ruleIndex}`;
    emit(
      eventFinding(
        event,
        this.ruleId,
        RULE.severity,
        // One standing alert per (identity, registrable domain): a spray of hosts is one alert with repeats.
        `${event.source.key} -> ${event.destination.registeredDomain ?? dest}`,
        `${event.source.key} reached ${dest}, which its policy does not permit: ${d.detail}.`,
        {
          policy: d.policy,
          policyKind: d.kind,
          ruleIndex: d.ruleIndex,
          decision: `${d.policy ?? 'default'}${rule}`,
          method: event.method,
          httpPath: event.httpPath,
          decidedBy: decisionFacts(event),
        },
      ),
    );
  }

  advance(): void {}

  stateSize(): number {
    return 0;
  }
}

export const forbiddenDestinationSpec: DetectorSpec<ForbiddenDestinationConfig, typeof RULE.id> = {
  rules: [RULE],
  summary:
    'A source reaches an external host its allow-list (pipeline policy or Istio AuthorizationPolicy) does not permit.',
  config: ForbiddenDestinationConfigSchema,
  create: (config, ctx) => new ForbiddenDestinationDetector(config, ctx.policies),
};
