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
