import { describe, expect, it } from 'vitest';
import { parsePolicyText } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { policyRequest } from '../helpers/policy-request.js';

const YAML = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-db-from-a, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: egressgateway } }
  action: DENY
  rules:
  - from: [{ source: { namespaces: ["app-a"] } }]
    when: [{ key: connection.sni, values: ["*.composedb.com"] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: app-a-egress, namespace: istio-system }
spec:
  action: ALLOW
  rules:
  - from: [{ source: { principals: ["cluster.local/ns/app-a/sa/app-a"] } }]
    when: [{ key: connection.sni, values: ["*.ibm.com"] }]
  - from: [{ source: { principals: ["cluster.local/ns/app-a/sa/app-a"] } }]
    to: [{ operation: { hosts: ["api.github.com"], methods: ["GET"] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: app-b-db, namespace: istio-system }
spec:
  rules:
  - from: [{ source: { principals: ["cluster.local/ns/app-b/sa/app-b"] } }]
    when: [{ key: connection.sni, values: ["mongo1.composedb.com"] }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ignored }
spec: { hosts: ["x.com"] }
`;

const set = new PolicySet(parsePolicyText(YAML, 'authz.yaml'));

/** A request whose gateway logged the host as SNI (TLS passthrough), unless `sni` says otherwise. */
const req = policyRequest;

describe('Istio AuthorizationPolicy semantics', () => {
  it('allows a host matched by a *. suffix in connection.sni and names the rule', () => {
    const d = set.decide(req({ host: 'eu.api.ibm.com' }));
    expect(d).toMatchObject({ verdict: 'allow', policy: 'istio-system/app-a-egress', ruleIndex: 0 });
  });

  it('does not let *.ibm.com match the bare domain', () => {
    expect(set.decide(req({ host: 'ibm.com' })).verdict).toBe('deny');
  });

  it('evaluates DENY before ALLOW and names the DENY rule', () => {
    const d = set.decide(req({ host: 'mongo1.composedb.com' }));
    expect(d).toMatchObject({ verdict: 'deny', policy: 'istio-system/deny-db-from-a', ruleIndex: 0 });
  });

  it('allows app B to its database and denies it elsewhere naming its allow rule', () => {
    const b = { principal: 'cluster.local/ns/app-b/sa/app-b', namespace: 'app-b', workload: 'app-b' };
    expect(set.decide(req({ ...b, host: 'mongo1.composedb.com' })).verdict).toBe('allow');
    const d = set.decide(req({ ...b, host: 'www.ibm.com' }));
    expect(d.verdict).toBe('deny');
    expect(d.policy).toBe('istio-system/app-b-db');
    expect(d.ruleIndex).toBe(0);
  });

  it('matches hosts and methods only when HTTP is visible (ALLOW rules with HTTP fields never match TCP)', () => {
    expect(set.decide(req({ host: 'api.github.com', httpVisible: true, method: 'GET' })).verdict).toBe(
      'allow',
    );
    expect(set.decide(req({ host: 'api.github.com', httpVisible: true, method: 'POST' })).verdict).toBe(
      'deny',
    );
    expect(set.decide(req({ host: 'api.github.com', httpVisible: false })).verdict).toBe('deny');
  });

  it('returns unknown when only the missing principal could decide, and decides when no rule could match anyway', () => {
    expect(set.decide(req({ principal: undefined, host: 'www.ibm.com' })).verdict).toBe('unknown');
    expect(set.decide(req({ principal: undefined, host: 'www.example.org' })).verdict).toBe('deny');
  });

  it('reads connection.sni as the SNI the gateway logged, also when HTTP is visible (TLS originated at the gateway)', () => {
    // The TLS-origination task sets the hop's SNI to the host in the DestinationRule: the gateway logs it.
    const http = { httpVisible: true, method: 'GET', host: 'www.ibm.com' };
    expect(set.decide(req({ ...http, sni: 'www.ibm.com' })).verdict).toBe('allow');
    // The SNI decides `connection.sni`, whatever the authority says.
    expect(set.decide(req({ host: 'www.ibm.com', sni: 'evil.example' })).verdict).toBe('deny');
  });

  it('leaves connection.sni unknown where no SNI was logged (plain TCP, hop SNI not set): never a deny', () => {
    expect(set.decide(req({ host: 'www.ibm.com', sni: undefined })).verdict).toBe('unknown');
    expect(set.decide(req({ httpVisible: true, method: 'GET', sni: undefined })).verdict).toBe('unknown');
    // A DENY on connection.sni cannot be decided either: app A to the database over plain TCP.
    const tcp = set.decide(req({ host: 'mongo1.composedb.com', port: 27017, sni: undefined }));
    expect(tcp.verdict).toBe('unknown');
  });

  it('treats a known-absent principal (gateway leg without mTLS) as not matching', () => {
    expect(set.decide(req({ principal: null, namespace: null, host: 'www.ibm.com' })).verdict).toBe('deny');
  });

  it('reads rules: [{}] as match-all and a policy without rules as match-nothing', () => {
    const all = new PolicySet(
      parsePolicyText(
        'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: all}\nspec:\n  rules: [{}]\n',
        'a.yaml',
      ),
    );
    expect(all.decide(req({ host: 'anything.example' })).verdict).toBe('allow');
    const none = new PolicySet(
      parsePolicyText(
        'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: none}\nspec: {}\n',
        'n.yaml',
      ),
    );
    expect(none.decide(req({})).verdict).toBe('deny');
  });

  it('ignores HTTP-only fields of a DENY rule on TCP traffic, as Istio does', () => {
    const deny = new PolicySet(
      parsePolicyText(
        'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: d}\nspec:\n  action: DENY\n  rules:\n  - to: [{operation: {methods: ["DELETE"]}}]\n',
        'd.yaml',
      ),
    );
    expect(deny.decide(req({ httpVisible: false })).verdict).toBe('deny');
    expect(deny.decide(req({ httpVisible: true, method: 'GET' })).verdict).toBe('allow');
  });

  it('reports invalid documents with the file, document number and field path', () => {
    expect(() =>
      parsePolicyText(
        'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec:\n  rules:\n  - from: [{source: {principal: ["a"]}}]\n',
        'bad.yaml',
      ),
    ).toThrow(/bad\.yaml[\s\S]*document 1 \(AuthorizationPolicy x\): spec\.rules\[0\]\.from\[0\]\.source/);
  });
});

describe('the pipeline policy file', () => {
  const own = new PolicySet(
    parsePolicyText(
      'kind: EgressPolicy\npolicies:\n  - name: app-a-egress\n    source: { namespace: app-a }\n    allow: ["*.ibm.com"]\n',
      'policy.yaml',
    ),
  );

  it('allows hosts in the source allow-list and names the pattern', () => {
    expect(own.decide(req({ host: 'w3.ibm.com' }))).toMatchObject({
      verdict: 'allow',
      policy: 'app-a-egress',
      ruleIndex: 0,
    });
  });

  it('denies other hosts naming the allow-list, and leaves sources it does not name unmanaged', () => {
    expect(own.decide(req({ host: 'mongo1.composedb.com' }))).toMatchObject({
      verdict: 'deny',
      policy: 'app-a-egress',
    });
    expect(own.decide(req({ namespace: 'other', host: 'x.org' })).verdict).toBe('unmanaged');
  });
});
