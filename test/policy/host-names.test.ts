/**
 * Issue #15 item 5: the workload chooses how a host is spelt; a DENY or an allow-list must see
 * through the spelling, and an internationalised name is shown as what it is.
 */
import { describe, expect, it } from 'vitest';
import { AlertStage } from '../../src/alerts/stage.js';
import type { Alert } from '../../src/alerts/types.js';
import { canonicalHost, hostLooks } from '../../src/identity/host-name.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { hostMatch } from '../../src/policy/match.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { destination, HOUR, source, T0 } from '../helpers/events.js';
import { policyRequest } from '../helpers/policy-request.js';

const YAML = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-evil, namespace: istio-system }
spec:
  action: DENY
  rules:
  - when: [{ key: connection.sni, values: ["evil.com", "*.bücher.de"] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-ibm, namespace: istio-system }
spec:
  action: ALLOW
  rules:
  - when: [{ key: connection.sni, values: ["www.ibm.com"] }]
`;
const set = new PolicySet(parsePolicyText(YAML, 'authz.yaml'));

// The gateway logged this spelling as the SNI: what `connection.sni` reads.
const req = (host: string) => policyRequest({ host });

describe('host names in policy matching', () => {
  it('denies evil.com however the SNI spells it (they passed the DENY: fail-open)', () => {
    for (const host of ['evil.com', 'evil.com.', 'EVIL.com', 'evil.com ', ' Evil.Com.']) {
      expect(set.decide(req(host)), JSON.stringify(host)).toMatchObject({
        verdict: 'deny',
        policy: 'istio-system/deny-evil',
      });
    }
  });

  it('allows www.ibm.com. as www.ibm.com (it was denied by the allow-list)', () => {
    expect(set.decide(req('www.ibm.com.')).verdict).toBe('allow');
    expect(set.decide(req('WWW.IBM.COM')).verdict).toBe('allow');
  });

  it('matches an internationalised pattern and name in punycode, either way written', () => {
    expect(set.decide(req('shop.bücher.de')).verdict).toBe('deny');
    expect(set.decide(req('shop.xn--bcher-kva.de')).verdict).toBe('deny');
    expect(hostMatch('*.xn--bcher-kva.de', 'Shop.Bücher.de.:443')).toBe(true);
  });

  it('puts names in one canonical form and leaves canonical ones (and IPs) as they are', () => {
    expect(canonicalHost('Shop.Bücher.DE.')).toBe('shop.xn--bcher-kva.de');
    expect(canonicalHost('аpple.com')).toBe('xn--pple-43d.com');
    const plain = 'api.example.com';
    expect(canonicalHost(plain)).toBe(plain);
    expect(canonicalHost('2001:db8::1')).toBe('2001:db8::1');
    expect(canonicalHost('a b.com')).toBe('a b.com');
  });
});

describe('homoglyph names in alerts', () => {
  it('says how a punycode name displays, and that its Cyrillic letters look Latin', () => {
    expect(hostLooks('xn--pple-43d.com')).toEqual({
      unicode: 'аpple.com',
      scripts: ['Cyrillic', 'Latin'],
      mixedScript: true,
      latinLookalike: false,
    });
    expect(hostLooks('xn--80ak6aa92e.com')?.latinLookalike).toBe(true); // аррӏе.com, all Cyrillic
    expect(hostLooks('xn--bcher-kva.de')?.mixedScript).toBe(false);
    expect(hostLooks('www.ibm.com')).toBeNull();
  });

  it('marks the alert of a mixed-script destination', () => {
    const out: Alert[] = [];
    new AlertStage({ realertMs: HOUR, severity: {}, exceptions: [] }).accept(
      {
        ruleId: 'new-destination',
        severity: 'medium',
        time: T0,
        dedupKey: 'app-a -> xn--pple-43d.com',
        reason:
          'app-a reached xn--pple-43d.com, under registrable domain xn--pple-43d.com, which it has never used before.',
        source: source('app-a'),
        destination: destination('xn--pple-43d.com'),
        path: 'passthrough',
        protocol: 'tls',
        evidence: {},
      },
      out,
    );
    expect(out[0]?.destination.domain).toBe('xn--pple-43d.com');
    expect(out[0]?.reason).toContain(
      '[internationalised name xn--pple-43d.com: displays as "аpple.com"; mixed scripts Cyrillic+Latin]',
    );
    expect(out[0]?.evidence.hostDisplay).toMatchObject({ mixedScript: true });
  });
});
