/**
 * AuthorizationPolicies attached to a ServiceEntry (`targetRefs: [{kind: ServiceEntry, ...}]`, Istio
 * ambient mode): the waypoint the ServiceEntry uses enforces them on traffic to that service only.
 * A request is judged, with Istio's semantics (istio.ts), by the policies that apply to the egress
 * proxy as a whole plus those attached to a ServiceEntry whose hosts match the request's host; one
 * IstioPolicyEvaluator per distinct set (a handful: one per ServiceEntry).
 */
import type { AuthorizationPolicy } from './istio.js';
import { IstioPolicyEvaluator } from './istio.js';
import { hostMatch } from './match.js';
import type { PolicyDecision, PolicyEvaluator, PolicyRequest } from './types.js';

export interface ScopedPolicy {
  readonly policy: AuthorizationPolicy;
  /** The ServiceEntry's hosts (`*.` wildcards allowed). */
  readonly hosts: readonly string[];
}

export class ScopedIstioEvaluator implements PolicyEvaluator {
  readonly usesHttpFields: boolean;
  private readonly bySet = new Map<string, IstioPolicyEvaluator>();

  constructor(
    private readonly unscoped: readonly AuthorizationPolicy[],
    private readonly scoped: readonly ScopedPolicy[],
    readonly name: string,
  ) {
    this.usesHttpFields = new IstioPolicyEvaluator(
      [...unscoped, ...scoped.map((s) => s.policy)],
      name,
    ).usesHttpFields;
  }

  decide(req: PolicyRequest): PolicyDecision {
    const host = req.host;
    let key = '';
    if (host !== null)
      for (let i = 0; i < this.scoped.length; i++)
        if ((this.scoped[i] as ScopedPolicy).hosts.some((h) => hostMatch(h, host))) key += `${i},`;
    let evaluator = this.bySet.get(key);
    if (evaluator === undefined) {
      const chosen =
        key === ''
          ? []
          : key
              .slice(0, -1)
              .split(',')
              .map((i) => (this.scoped[Number(i)] as ScopedPolicy).policy);
      evaluator = new IstioPolicyEvaluator([...this.unscoped, ...chosen], this.name);
      this.bySet.set(key, evaluator);
    }
    return evaluator.decide(req);
  }
}
