/**
 * The pipeline's own egress policy file: per source (principal / namespace / workload, glob patterns
 * as Istio reads them) the external hosts it may reach.
 *
 * ```yaml
 * kind: EgressPolicy
 * defaultAction: allow        # sources no policy names: allow = not checked, deny = everything forbidden
 * policies:
 *   - name: app-a-egress
 *     source: { namespace: app-a }
 *     allow: ["*.ibm.com"]
 * ```
 */
import { z } from 'zod';
import { hostMatch, istioMatch, matchAny } from './match.js';
import {
  and,
  type PolicyDecision,
  type PolicyEvaluator,
  type PolicyRequest,
  TRUE,
  type Tri,
  UNKNOWN,
} from './types.js';

const EgressRuleSchema = z
  .object({
    name: z.string().min(1).describe('Named in alerts.'),
    source: z
      .object({
        principal: z
          .string()
          .optional()
          .describe('SPIFFE id pattern without spiffe://, e.g. cluster.local/ns/app-a/sa/*.'),
        namespace: z.string().optional(),
        workload: z.string().optional(),
      })
      .strict()
      .refine((s) => s.principal !== undefined || s.namespace !== undefined || s.workload !== undefined, {
        message: 'name at least one of principal, namespace, workload',
      }),
    allow: z.array(z.string().min(1)).describe('Host patterns: exact, "*.example.com", "api*", "*".'),
  })
  .strict();

export const EgressPolicyFileSchema = z
  .object({
    kind: z.literal('EgressPolicy').optional(),
    defaultAction: z.enum(['allow', 'deny']).default('allow').describe('For sources no policy names.'),
    policies: z.array(EgressRuleSchema),
  })
  .strict();

export type EgressPolicyFile = z.infer<typeof EgressPolicyFileSchema>;

export class PipelinePolicyEvaluator implements PolicyEvaluator {
  readonly usesHttpFields = false;

  constructor(
    private readonly file: EgressPolicyFile,
    readonly name: string,
  ) {}

  decide(req: PolicyRequest): PolicyDecision {
    const applied: string[] = [];
    let unknown = false;
    const policies = this.file.policies;
    for (let i = 0; i < policies.length; i++) {
      const p = policies[i] as EgressPolicyFile['policies'][number];
      let m: Tri = TRUE;
      if (p.source.principal !== undefined)
        m = and(m, matchAny([p.source.principal], req.principal, istioMatch));
      if (p.source.namespace !== undefined)
        m = and(m, matchAny([p.source.namespace], req.namespace, istioMatch));
      if (p.source.workload !== undefined)
        m = and(m, matchAny([p.source.workload], req.workload, istioMatch));
      if (m === UNKNOWN) unknown = true;
      if (m !== TRUE) continue;
      applied.push(p.name);
      if (req.host === null) continue;
      const j = p.allow.findIndex((pattern) => hostMatch(pattern, req.host as string));
      if (j >= 0) {
        return {
          verdict: 'allow',
          kind: 'pipeline',
          policy: p.name,
          ruleIndex: j,
          detail: `policy ${p.name} allows ${p.allow[j]}`,
        };
      }
    }
    if (applied.length > 0) {
      if (unknown)
        return {
          verdict: 'unknown',
          kind: 'pipeline',
          policy: null,
          ruleIndex: null,
          detail: 'a policy source cannot be decided from the log',
        };
      return {
        verdict: 'deny',
        kind: 'pipeline',
        policy: applied.join(', '),
        ruleIndex: null,
        detail: `not in the allow-list of ${applied.join(', ')}`,
      };
    }
    if (unknown)
      return {
        verdict: 'unknown',
        kind: 'pipeline',
        policy: null,
        ruleIndex: null,
        detail: 'a policy source cannot be decided from the log',
      };
    if (this.file.defaultAction === 'deny') {
      return {
        verdict: 'deny',
        kind: 'pipeline',
        policy: 'defaultAction',
        ruleIndex: null,
        detail: 'no policy names this source and defaultAction is deny',
      };
    }
    return {
      verdict: 'unmanaged',
      kind: null,
      policy: null,
      ruleIndex: null,
      detail: 'no policy names this source',
    };
  }
}
