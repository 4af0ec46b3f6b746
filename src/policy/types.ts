/**
 * Egress policies: who may reach which external hosts. Two sources: the pipeline's own policy file
 * (`pipeline.ts`) and Istio AuthorizationPolicy YAML applied to the egress gateway (`istio.ts`).
 * Evaluation is three-valued because access-log lines do not always carry what a rule needs (a
 * sidecar line has no peer principal): an `unknown` never raises an alert.
 */

/** What a policy looks at. `undefined` = not known from this log line; `null` = known to be absent. */
export interface PolicyRequest {
  /** Istio form without `spiffe://`, e.g. `cluster.local/ns/app-a/sa/app-a`. */
  principal: string | null | undefined;
  namespace: string | null | undefined;
  workload: string | null | undefined;
  /** The external host (SNI or HTTP authority), lower-case, without port. */
  host: string | null;
  port: number;
  /**
   * `connection.sni`: the SNI the egress gateway logged for the connection (lower-case); undefined
   * when none was logged (the condition is then unknown, which never alerts).
   */
  sni?: string | null | undefined;
  /** Whether HTTP is visible (plain HTTP, or TLS originated at the gateway): methods and paths. */
  httpVisible: boolean;
  method: string | null;
  path: string | null;
}

export type Verdict = 'allow' | 'deny' | 'unknown' | 'unmanaged';

export interface PolicyDecision {
  verdict: Verdict;
  /** `istio` (AuthorizationPolicy) or `pipeline` (the pipeline's policy file). */
  kind: 'istio' | 'pipeline' | null;
  /** The policy that decided (`namespace/name` for Istio), or the allow-lists that did not permit. */
  policy: string | null;
  /** Index of the rule (or allow pattern) that decided; null when no single rule did. */
  ruleIndex: number | null;
  /** One clause for the alert reason, e.g. `DENY policy istio-system/deny-db rule 0 matched`. */
  detail: string;
}

export interface PolicyEvaluator {
  readonly name: string;
  decide(req: PolicyRequest): PolicyDecision;
  /** Whether any rule looks at HTTP methods or paths (decisions then cannot be cached per host). */
  readonly usesHttpFields: boolean;
}

/** Three-valued match result. */
export const FALSE = 0;
export const TRUE = 1;
export const UNKNOWN = 2;
export type Tri = 0 | 1 | 2;

export function and(a: Tri, b: Tri): Tri {
  if (a === FALSE || b === FALSE) return FALSE;
  if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
  return TRUE;
}

export function or(a: Tri, b: Tri): Tri {
  if (a === TRUE || b === TRUE) return TRUE;
  if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
  return FALSE;
}
