/**
 * Istio AuthorizationPolicy (security.istio.io/v1 and v1beta1) applied to the egress gateway, read
 * with Istio's semantics: CUSTOM and AUDIT are ignored; a request matching any DENY rule is denied;
 * then, if any ALLOW policy exists, the request must match one ALLOW rule. A rule with `from`, `to`
 * and `when` matches when all three match (each a list: any entry matches). `rules: [{}]` matches
 * everything, a policy with no rules matches nothing.
 *
 * HTTP-only fields (`hosts`, `methods`, `paths`, `requestPrincipals`, `request.*` conditions) on
 * traffic where HTTP is not visible (TLS passthrough, TCP): an ALLOW rule using them matches nothing,
 * a DENY rule is read without them (what Istio does, so that DENY stays the stricter). Destinations
 * of TLS passthrough come from `when: key: connection.sni`, read as the SNI the gateway logged for
 * the connection (policy-set.ts `requestOf`); where none was logged the condition is unknown. `ipBlocks`/`remoteIpBlocks` and JWT
 * fields are not in access logs: rules that need them evaluate to "unknown", which never alerts.
 */
import { z } from 'zod';
import { hostMatch, matchAny, matchNone } from './match.js';
import {
  and,
  FALSE,
  or,
  type PolicyDecision,
  type PolicyEvaluator,
  type PolicyRequest,
  TRUE,
  type Tri,
  UNKNOWN,
} from './types.js';

const List = z.array(z.union([z.string(), z.number()]).transform(String)).optional();

const SourceSchema = z
  .object({
    principals: List,
    notPrincipals: List,
    requestPrincipals: List,
    notRequestPrincipals: List,
    namespaces: List,
    notNamespaces: List,
    ipBlocks: List,
    notIpBlocks: List,
    remoteIpBlocks: List,
    notRemoteIpBlocks: List,
  })
  .strict();

const OperationSchema = z
  .object({
    hosts: List,
    notHosts: List,
    ports: List,
    notPorts: List,
    methods: List,
    notMethods: List,
    paths: List,
    notPaths: List,
  })
  .strict();

const ConditionSchema = z.object({ key: z.string(), values: List, notValues: List }).strict();

const RuleSchema = z
  .object({
    from: z.array(z.object({ source: SourceSchema }).strict()).optional(),
    to: z.array(z.object({ operation: OperationSchema }).strict()).optional(),
    when: z.array(ConditionSchema).optional(),
  })
  .strict();

/** A workload selector, as Istio's WorkloadSelector (only `matchLabels`). */
const SelectorSchema = z.object({ matchLabels: z.record(z.string(), z.string()).optional() }).strict();

/** A policy attachment (Istio 1.22+): a Gateway API Gateway, a Service, or a GatewayClass. */
const TargetRefSchema = z
  .object({
    group: z.string().optional(),
    kind: z.string(),
    name: z.string(),
    namespace: z.string().optional(),
  })
  .strict();

export const AuthorizationPolicySchema = z
  .object({
    apiVersion: z
      .string()
      .regex(/^security\.istio\.io\//, 'expected apiVersion security.istio.io/v1 or v1beta1'),
    kind: z.literal('AuthorizationPolicy'),
    metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
    // Read strictly: a misspelt key (`rule:` for `rules:`) would silently change what is enforced.
    spec: z
      .object({
        selector: SelectorSchema.optional(),
        targetRef: TargetRefSchema.optional(),
        targetRefs: z.array(TargetRefSchema).optional(),
        action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).default('ALLOW'),
        provider: z.object({ name: z.string() }).strict().optional(),
        rules: z.array(RuleSchema).optional(),
      })
      .strict()
      .prefault({}),
    // What `kubectl get -o yaml` adds (the API server's and Istio's own).
    status: z.unknown().optional(),
  })
  .strict();

export type AuthorizationPolicy = z.infer<typeof AuthorizationPolicySchema>;
type Rule = z.infer<typeof RuleSchema>;
type Source = z.infer<typeof SourceSchema>;
type Operation = z.infer<typeof OperationSchema>;

function policyName(p: AuthorizationPolicy): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;
}

function principalValue(req: PolicyRequest): string | null | undefined {
  return req.principal;
}

function matchSource(s: Source, req: PolicyRequest, deny: boolean): Tri {
  let r: Tri = TRUE;
  r = and(r, matchAny(s.principals, principalValue(req)));
  r = and(r, matchNone(s.notPrincipals, principalValue(req)));
  r = and(r, matchAny(s.namespaces, req.namespace));
  r = and(r, matchNone(s.notNamespaces, req.namespace));
  if (s.requestPrincipals !== undefined || s.notRequestPrincipals !== undefined)
    r = and(r, httpOnly(req, deny) ?? UNKNOWN);
  if (s.ipBlocks || s.notIpBlocks || s.remoteIpBlocks || s.notRemoteIpBlocks) r = and(r, UNKNOWN);
  return r;
}

/** For an HTTP-only field: null when HTTP is visible (evaluate it), else what the rule reads as. */
function httpOnly(req: PolicyRequest, deny: boolean): Tri | null {
  if (req.httpVisible) return null;
  return deny ? TRUE : FALSE;
}

function matchOperation(o: Operation, req: PolicyRequest, deny: boolean): Tri {
  let r: Tri = TRUE;
  const port = String(req.port);
  r = and(r, matchAny(o.ports, port));
  r = and(r, matchNone(o.notPorts, port));
  if (o.hosts || o.notHosts || o.methods || o.notMethods || o.paths || o.notPaths) {
    const skip = httpOnly(req, deny);
    if (skip !== null) return and(r, skip);
    r = and(r, matchAny(o.hosts, req.host, hostMatch));
    r = and(r, matchNone(o.notHosts, req.host, hostMatch));
    r = and(r, matchAny(o.methods, req.method));
    r = and(r, matchNone(o.notMethods, req.method));
    r = and(r, matchAny(o.paths, req.path));
    r = and(r, matchNone(o.notPaths, req.path));
  }
  return r;
}

function conditionValue(
  key: string,
  req: PolicyRequest,
  deny: boolean,
): { value: string | null | undefined; tri?: Tri } {
  switch (key) {
    case 'source.principal':
      return { value: principalValue(req) };
    case 'source.namespace':
      return { value: req.namespace };
    case 'connection.sni':
      // The SNI the gateway logged (with TLS originated at the gateway, the hop's SNI, which the
      // DestinationRule may set to the host); none logged: unknown, never "no SNI".
      return { value: req.sni ?? undefined };
    case 'destination.port':
      return { value: String(req.port) };
    default:
      if (key.startsWith('request.')) {
        const t = httpOnly(req, deny);
        return t === null ? { value: undefined } : { value: undefined, tri: t };
      }
      return { value: undefined };
  }
}

function matchRule(rule: Rule, req: PolicyRequest, deny: boolean): Tri {
  let r: Tri = TRUE;
  if (rule.from !== undefined) {
    let any: Tri = FALSE;
    for (const f of rule.from) any = or(any, matchSource(f.source, req, deny));
    r = and(r, any);
  }
  if (rule.to !== undefined) {
    let any: Tri = FALSE;
    for (const t of rule.to) any = or(any, matchOperation(t.operation, req, deny));
    r = and(r, any);
  }
  for (const c of rule.when ?? []) {
    const { value, tri } = conditionValue(c.key, req, deny);
    if (tri !== undefined) {
      r = and(r, tri);
      continue;
    }
    const match = c.key === 'connection.sni' ? hostMatch : undefined;
    r = and(r, matchAny(c.values, value, match));
    r = and(r, matchNone(c.notValues, value, match));
  }
  return r;
}

/** Whether the rule's `from` names this source (its allow-list), for the alert's reason. */
function fromMatches(rule: Rule, req: PolicyRequest): boolean {
  if (rule.from === undefined) return true;
  return rule.from.some((f) => matchSource(f.source, req, false) === TRUE);
}

export class IstioPolicyEvaluator implements PolicyEvaluator {
  readonly name: string;
  readonly usesHttpFields: boolean;
  private readonly deny: AuthorizationPolicy[];
  private readonly allow: AuthorizationPolicy[];

  constructor(policies: readonly AuthorizationPolicy[], name = 'istio') {
    this.name = name;
    this.deny = policies.filter((p) => p.spec.action === 'DENY');
    this.allow = policies.filter((p) => p.spec.action === 'ALLOW');
    this.usesHttpFields = policies.some((p) =>
      (p.spec.rules ?? []).some((r) =>
        (r.to ?? []).some(
          (t) => t.operation.methods || t.operation.paths || t.operation.notMethods || t.operation.notPaths,
        ),
      ),
    );
  }

  decide(req: PolicyRequest): PolicyDecision {
    let unknownDeny: string | null = null;
    for (const p of this.deny) {
      const rules = p.spec.rules ?? [];
      for (let i = 0; i < rules.length; i++) {
        const m = matchRule(rules[i] as Rule, req, true);
        if (m === TRUE) {
          return {
            verdict: 'deny',
            kind: 'istio',
            policy: policyName(p),
            ruleIndex: i,
            detail: `DENY policy ${policyName(p)} rule ${i} matched`,
          };
        }
        if (m === UNKNOWN && unknownDeny === null) unknownDeny = `${policyName(p)} rule ${i}`;
      }
    }
    if (this.allow.length === 0) {
      if (unknownDeny !== null)
        return {
          verdict: 'unknown',
          kind: 'istio',
          policy: null,
          ruleIndex: null,
          detail: `DENY ${unknownDeny} cannot be decided from the log`,
        };
      return {
        verdict: 'allow',
        kind: 'istio',
        policy: null,
        ruleIndex: null,
        detail: 'no ALLOW policy exists and no DENY rule matched',
      };
    }
    let unknownAllow = false;
    const lists: string[] = [];
    for (const p of this.allow) {
      const rules = p.spec.rules ?? [];
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i] as Rule;
        const m = matchRule(rule, req, false);
        if (m === TRUE) {
          if (unknownDeny !== null)
            return {
              verdict: 'unknown',
              kind: 'istio',
              policy: policyName(p),
              ruleIndex: i,
              detail: `DENY ${unknownDeny} cannot be decided from the log`,
            };
          return {
            verdict: 'allow',
            kind: 'istio',
            policy: policyName(p),
            ruleIndex: i,
            detail: `ALLOW policy ${policyName(p)} rule ${i} matched`,
          };
        }
        if (m === UNKNOWN) unknownAllow = true;
        if (fromMatches(rule, req)) lists.push(`${policyName(p)} rule ${i}`);
      }
    }
    if (unknownAllow)
      return {
        verdict: 'unknown',
        kind: 'istio',
        policy: null,
        ruleIndex: null,
        detail: 'an ALLOW rule cannot be decided from the log',
      };
    const names = [...new Set(lists.map((l) => l.replace(/ rule \d+$/, '')))];
    const single = lists.length === 1 ? Number((lists[0] as string).replace(/^.* rule /, '')) : null;
    return {
      verdict: 'deny',
      kind: 'istio',
      policy: names.length > 0 ? names.join(', ') : this.allow.map(policyName).join(', '),
      ruleIndex: single,
      detail:
        lists.length > 0
          ? `no ALLOW rule permits it (the source's allow rules: ${lists.join(', ')})`
          : `no rule of the ALLOW policies ${this.allow.map(policyName).join(', ')} permits it`,
    };
  }
}
