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
    const key = `${req.principal}|${req.namespace}|${req.workload}|${req.host}|${req.port}|${req.httpVisible}|${req.sni}`;
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
  const sni = sniOf(event);
  return {
    principal,
    namespace,
    workload: s.workload ?? undefined,
    host: host === null ? null : normaliseHost(host),
    sni: sni === null ? undefined : normaliseHost(sni.value),
    port: event.destination.port,
    httpVisible: event.protocol === 'http',
    method: event.method,
    path: event.httpPath,
  };
}

/**
 * The SNI `connection.sni` reads, and which line logged it: the gateway's leg (its own line, or the
 * leg joined to this sidecar leg); a sidecar's TLS leg with no gateway leg found, its own SNI (in TLS
 * passthrough the gateway receives the same ClientHello). Null when none was logged.
 */
export function sniOf(event: EgressEvent): { value: string; loggedBy: string } | null {
  if (event.reporter === 'egress-gateway') {
    return event.sni == null ? null : { value: event.sni, loggedBy: `the gateway (${event.origin})` };
  }
  const join = event.join;
  if (join != null && join.by !== 'none') {
    return join.gatewaySni === null
      ? null
      : { value: join.gatewaySni, loggedBy: `the gateway (${join.otherOrigin ?? '?'})` };
  }
  if (event.protocol === 'tls' && event.sni != null)
    return { value: event.sni, loggedBy: `the sidecar (${event.origin}), no gateway leg found` };
  return null;
}

/**
 * The logged fields a policy decision read, each with where it came from, for the alert's evidence:
 * the principal, the destination host, and the SNI.
 */
export function decisionFacts(event: EgressEvent): Record<string, string> {
  const s = event.source;
  const d = event.destination;
  const facts: Record<string, string> = {};
  facts['source.principal'] =
    s.principal === null
      ? event.reporter === 'egress-gateway'
        ? 'none (the gateway logged no peer certificate)'
        : 'unknown (not logged, not learned)'
      : `${s.principal} (${s.principalSource === 'learned' ? "learned for the sidecar's workload" : 'logged by the gateway'})`;
  const host = d.host ?? d.ip;
  const joined = event.join != null && event.join.by !== 'none';
  facts.destination = `${host ?? '?'}:${d.port}${joined ? ` (the gateway's leg, joined by ${event.join?.by})` : ''}`;
  const sni = sniOf(event);
  facts['connection.sni'] =
    sni === null ? 'none logged (unknown)' : `${sni.value} (logged by ${sni.loggedBy})`;
  return facts;
}
