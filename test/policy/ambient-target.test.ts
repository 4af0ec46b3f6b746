import { describe, expect, it } from 'vitest';
import { parsePolicyDocuments } from '../../src/policy/load.js';
import { PolicyTargetSchema } from '../../src/policy/target.js';

const policy = (ref: string, namespace = 'istio-egress') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: ${namespace} }\nspec:\n  targetRefs:\n  - ${ref}\n  action: DENY\n  rules: [{}]\n`;

describe('policies attached to an egress waypoint (ambient mode)', () => {
  it('applies a policy whose targetRefs name the egress waypoint (default istio-egress/waypoint)', () => {
    const p = parsePolicyDocuments(
      policy('{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }'),
      'p.yaml',
    );
    expect(p.notApplied).toEqual([]);
    expect(p.evaluators).toHaveLength(1);
  });

  it('reports a policy attached to another waypoint, or to the right name in another namespace', () => {
    for (const text of [
      policy('{ kind: Gateway, name: reviews-waypoint }'),
      policy('{ kind: Gateway, name: waypoint }', 'bookinfo'),
    ]) {
      const p = parsePolicyDocuments(text, 'p.yaml');
      expect(p.evaluators).toHaveLength(0);
      expect(p.notApplied[0]).toMatch(/nor an egress waypoint \(istio-egress\/waypoint\)/);
    }
  });

  it('follows policyTarget.waypoints', () => {
    const target = PolicyTargetSchema.parse({ waypoints: [{ name: 'egress', namespace: 'mesh-egress' }] });
    const ok = parsePolicyDocuments(
      policy('{ kind: Gateway, name: egress }', 'mesh-egress'),
      'p.yaml',
      target,
    );
    expect(ok.notApplied).toEqual([]);
    const not = parsePolicyDocuments(policy('{ kind: Gateway, name: waypoint }'), 'p.yaml', target);
    expect(not.evaluators).toHaveLength(0);
  });
});

const SE = (labels: string) =>
  `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: ibm\n  namespace: istio-egress\n  labels: {${labels}}\nspec:\n  hosts: [api.ibm.com, "*.cloud.ibm.com"]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: DNS\n`;
const SE_POLICY = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ibm-only-app-a, namespace: istio-egress }\nspec:\n  targetRefs:\n  - { group: networking.istio.io, kind: ServiceEntry, name: ibm }\n  action: ALLOW\n  rules:\n  - from: [{ source: { principals: ["cluster.local/ns/app-a/sa/app-a"] } }]\n`;
const req = (ns: string, host: string) => ({
  principal: `cluster.local/ns/${ns}/sa/${ns}`,
  namespace: ns,
  workload: ns,
  host,
  port: 443,
  httpVisible: false,
  method: null,
  path: null,
});

describe('policies attached to a ServiceEntry (enforced by the waypoint it uses)', () => {
  it("apply to that ServiceEntry's hosts only", () => {
    const p = parsePolicyDocuments(`${SE('istio.io/use-waypoint: waypoint')}---\n${SE_POLICY}`, 'p.yaml');
    expect(p.notApplied).toEqual([]);
    const e = p.evaluators[0];
    expect(e?.decide(req('app-a', 'api.ibm.com')).verdict).toBe('allow');
    expect(e?.decide(req('app-b', 'api.ibm.com')).verdict).toBe('deny');
    expect(e?.decide(req('app-b', 'iam.cloud.ibm.com')).verdict).toBe('deny');
    // Another service: this ALLOW policy does not apply there.
    expect(e?.decide(req('app-b', 'mongo1.composedb.com')).verdict).not.toBe('deny');
  });

  it('combine with the policies attached to the egress waypoint', () => {
    const deny = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: no-app-c, namespace: istio-egress }\nspec:\n  targetRefs: [{ kind: Gateway, name: waypoint }]\n  action: DENY\n  rules: [{ from: [{ source: { namespaces: [app-c] } }] }]\n`;
    const p = parsePolicyDocuments(
      `${SE('istio.io/use-waypoint: waypoint')}---\n${SE_POLICY}---\n${deny}`,
      'p.yaml',
    );
    const e = p.evaluators[0];
    expect(e?.decide(req('app-c', 'mongo1.composedb.com')).verdict).toBe('deny');
    expect(e?.decide(req('app-a', 'api.ibm.com')).verdict).toBe('allow');
  });

  it('are reported and not applied when the ServiceEntry is missing or uses no waypoint', () => {
    const missing = parsePolicyDocuments(SE_POLICY, 'p.yaml');
    expect(missing.evaluators).toHaveLength(0);
    expect(missing.notApplied[0]).toMatch(/ServiceEntry istio-egress\/ibm is not in the same file/);
    const noWaypoint = parsePolicyDocuments(`${SE('team: x')}---\n${SE_POLICY}`, 'p.yaml');
    expect(noWaypoint.notApplied[0]).toMatch(/has no istio.io\/use-waypoint label/);
  });
});
