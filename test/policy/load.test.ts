import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SentinelError } from '../../src/errors.js';
import { loadPolicyFiles, parsePolicyDocuments } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { PolicyTargetSchema } from '../../src/policy/target.js';
import type { PolicyRequest } from '../../src/policy/types.js';
import { policyRequest } from '../helpers/policy-request.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SEED = join(ROOT, 'deploy/istio/authorization-policy.yaml');
const LIST = join(ROOT, 'test/fixtures/policies/kubectl-get-list.yaml');
const seedText = readFileSync(SEED, 'utf8');

// The gateway logged the host as SNI (TLS passthrough): what `connection.sni` reads.
const req = policyRequest;

function problems(text: string, file = 'policy.yaml'): string {
  try {
    parsePolicyDocuments(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(SentinelError);
    return (err as Error).message;
  }
  throw new Error('expected the policy to be refused');
}

const policy = (spec: string, meta = 'name: p\n  namespace: istio-system') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  ${meta}\nspec:\n${spec}`;

describe('policies are read strictly', () => {
  it('refuses `rule:` for `rules:`, naming the file, the document, the path and the key meant', () => {
    const text = `${seedText}---\n${seedText.replace('  rules:', '  rule:')}`;
    const message = problems(text, 'gw.yaml');
    expect(message).toContain('Invalid policy file gw.yaml');
    expect(message).toContain(
      'document 2 (AuthorizationPolicy egress-allow-list): spec: Unrecognized key: "rule" (did you mean "rule" -> "rules"?)',
    );
    expect(message).not.toContain('document 1');
  });

  it('refuses unknown keys deep in a rule with their path', () => {
    const message = problems(
      policy(
        '  selector: { matchLabels: { istio: egressgateway } }\n  rules:\n  - from:\n    - source:\n        principal: ["cluster.local/ns/a/sa/a"]\n',
      ),
    );
    expect(message).toContain('spec.rules[0].from[0].source: Unrecognized key: "principal"');
    expect(message).toContain('"principal" -> "principals"');
  });

  it('refuses an unknown key in the selector and an unknown top-level key, all at once', () => {
    const message = problems(
      `${policy('  selector: { matchLabel: { istio: egressgateway } }\n  rules: [{}]\n')}\nextra: 1\n`,
    );
    expect(message).toContain('spec.selector: Unrecognized key: "matchLabel"');
    expect(message).toContain('(root): Unrecognized key: "extra"');
  });

  it('accepts what the API server adds: metadata fields and status', () => {
    const text = `${policy('  rules: [{}]\n', 'name: p\n  namespace: istio-system\n  uid: x\n  resourceVersion: "1"\n  generation: 2')}status:\n  validationMessages: []\n`;
    expect(parsePolicyDocuments(text, 'p.yaml').evaluators).toHaveLength(1);
  });
});

describe('only policies that select the egress gateway are applied', () => {
  const decide = (text: string, r: Partial<PolicyRequest>, target = PolicyTargetSchema.parse({})) =>
    new PolicySet(parsePolicyDocuments(text, 'p.yaml', target).evaluators).decide(req(r)).verdict;

  it("a policy with another workload's selector is reported and not applied", () => {
    const text = policy(
      '  selector: { matchLabels: { app: frontend } }\n  action: ALLOW\n  rules:\n  - from: [{ source: { namespaces: ["web"] } }]\n',
    );
    const parsed = parsePolicyDocuments(text, 'p.yaml');
    expect(parsed.evaluators).toHaveLength(0);
    expect(parsed.notApplied).toEqual([
      expect.stringMatching(
        /^p\.yaml document 1: AuthorizationPolicy istio-system\/p is not applied: its selector app=frontend does not select the egress gateway/,
      ),
    ]);
    // Enforced as the gateway's, this ALLOW would have denied every app-a destination.
    expect(decide(text, { host: 'www.ibm.com' })).toBe('unmanaged');
  });

  it("a policy in an application's namespace without a selector guards that namespace, not the gateway", () => {
    const text = policy('  action: DENY\n  rules: [{}]\n', 'name: deny-all\n  namespace: app-a');
    expect(decide(text, {})).toBe('unmanaged');
    expect(parsePolicyDocuments(text, 'p.yaml').notApplied[0]).toContain('it is in namespace app-a');
  });

  it('a policy in the root namespace without a selector applies mesh-wide, the gateway included', () => {
    const text = policy('  action: DENY\n  rules: [{}]\n', 'name: deny-all\n  namespace: istio-system');
    expect(decide(text, {})).toBe('deny');
  });

  it('the gateway labels are configurable', () => {
    const text = policy(
      '  selector: { matchLabels: { app: corp-egress } }\n  action: DENY\n  rules: [{}]\n',
      'name: p\n  namespace: egress',
    );
    expect(decide(text, {})).toBe('unmanaged');
    const target = PolicyTargetSchema.parse({ namespace: 'egress', labels: { app: 'corp-egress' } });
    expect(decide(text, {}, target)).toBe('deny');
  });

  it('targetRefs attach a policy to the named Gateway or Service, and to nothing else', () => {
    const to = (kind: string, name: string, group = '') =>
      policy(
        `  targetRefs:\n  - { kind: ${kind}, name: ${name}${group ? `, group: ${group}` : ''} }\n  action: DENY\n  rules: [{}]\n`,
      );
    expect(decide(to('Gateway', 'istio-egressgateway', 'gateway.networking.k8s.io'), {})).toBe('deny');
    expect(decide(to('Service', 'istio-egressgateway'), {})).toBe('deny');
    expect(decide(to('Gateway', 'public-ingress', 'gateway.networking.k8s.io'), {})).toBe('unmanaged');
    expect(parsePolicyDocuments(to('Service', 'reviews'), 'p.yaml').notApplied[0]).toContain(
      'its targetRefs (Service/reviews) do not name the egress gateway',
    );
  });
});

describe('kubectl get -o yaml output (kind: List)', () => {
  it('reads each item, applies the egress allow-list and reports the other workload policy', () => {
    const set = loadPolicyFiles([LIST]);
    expect(set.notApplied).toEqual([
      expect.stringContaining('document 1 items[0]: AuthorizationPolicy app-a/frontend-ingress'),
    ]);
    const seed = loadPolicyFiles([SEED]);
    const b = { principal: 'cluster.local/ns/app-b/sa/app-b', namespace: 'app-b', workload: 'app-b' };
    for (const r of [
      {},
      { host: 'ibm.com' },
      { host: 'evil.example.com' },
      { ...b, host: 'mongo1.composedb.com' },
      { ...b, host: 'www.ibm.com' },
    ])
      expect(set.decide(req(r)).verdict, JSON.stringify(r)).toBe(seed.decide(req(r)).verdict);
    expect(set.decide(req({ host: 'evil.example.com' })).verdict).toBe('deny');
  });

  it('names the list item of a problem', () => {
    const text = readFileSync(LIST, 'utf8').replace(
      '    rules:\n    - from:\n      - source:\n          principals:',
      '    rule:\n    - from:\n      - source:\n          principals:',
    );
    expect(problems(text)).toContain(
      'document 1 items[1] (AuthorizationPolicy egress-allow-list): spec: Unrecognized key: "rule"',
    );
  });
});
