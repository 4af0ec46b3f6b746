/**
 * All loaded policies together: forbidden if any evaluator denies (an Istio DENY first), allowed if
 * one allows and none denies, else unknown / unmanaged. Decisions are cached per request shape when
 * no rule looks at HTTP methods or paths.
 */
import type { EgressEvent } from '../identity/types.js';
import { normaliseHost } from './match.js';
import type { PolicyDecision, PolicyEvaluator, PolicyRequest } from './types.js';

const CACHE_MAX = 50_000;

export class PolicySet {
  private readonly cache = new Map<string, PolicyDecision>();
  private readonly cacheable: boolean;

  constructor(
    readonly evaluators: readonly PolicyEvaluator[],
    /** Policies read but not applied (they do not select the egress gateway), each with the reason. */
    readonly notApplied: readonly string[] = [],
  ) {
    this.cacheable = !evaluators.some((e) => e.usesHttpFields);
  }

  get empty(): boolean {
    return this.evaluators.length === 0;
  }

  decide(req: PolicyRequest): PolicyDecision {
    let allow: PolicyDecision | null = null;
    let unknown: PolicyDecision | null = null;
    let denied: PolicyDecision | null = null;
    for (const e of this.evaluators) {
      const d = e.decide(req);
      if (d.verdict === 'deny') {
        if (denied === null || (d.kind === 'istio' && denied.kind !== 'istio')) denied = d;
      } else if (d.verdict === 'allow') allow ??= d;
      else if (d.verdict === 'unknown') unknown ??= d;
    }
    return (
      denied ??
      unknown ??
      allow ?? {
        verdict: 'unmanaged',
        kind: null,
        policy: null,
        ruleIndex: null,
        detail: 'no policy covers this source',
      }
    );
  }

  /** The decision for an egress event (cached per source and host unless HTTP fields matter). */
  decideEvent(event: EgressEvent): PolicyDecision {
    const req = requestOf(event);
    if (!this.cacheable && req.httpVisible) return this.decide(req);
    const key = `${req.principal}|${req.namespace}|${req.workload}|${req.host}|${req.port}|${req.httpVisible}`;
    let d = this.cache.get(key);
    if (d === undefined) {
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      d = this.decide(req);
      this.cache.set(key, d);
    }
    return d;
  }
}

/** What a log line tells about the request, for policy evaluation. */
export function requestOf(event: EgressEvent): PolicyRequest {
  const s = event.source;
  const atGateway = event.reporter === 'egress-gateway';
  // At the gateway a missing peer principal is known to be absent (plaintext / outside client);
  // on a sidecar line it is simply not logged.
  const principal =
    s.principal !== null ? s.principal.replace(/^spiffe:\/\//, '') : atGateway ? null : undefined;
  const namespace = s.namespace ?? (atGateway && s.principal === null ? null : undefined);
  const host = event.destination.host ?? event.destination.ip;
  return {
    principal,
    namespace,
    workload: s.workload ?? undefined,
    host: host === null ? null : normaliseHost(host),
    port: event.destination.port,
    httpVisible: event.protocol === 'http',
    method: event.method,
    path: event.httpPath,
  };
}
