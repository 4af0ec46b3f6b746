import { describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alerts/types.js';
import { MeshConfigSchema } from '../../../src/identity/config.js';
import { parsePipelineConfig } from '../../../src/pipeline/config.js';
import { PipelinePolicyEvaluator } from '../../../src/policy/pipeline.js';
import { PolicySet } from '../../../src/policy/policy-set.js';
import { loadFixtures } from '../../fixtures/load.js';
import { Stages } from '../../helpers/stages.js';

const claims = loadFixtures('name-claims.txt');
const published = loadFixtures('published-lines.txt');

/** Replays lines through the whole pipeline (parse, identity, detection, alerts). */
function replayWith(
  ids: readonly string[],
  policies: PolicySet,
  detection = parsePipelineConfig({}, '(defaults)').detection,
): Alert[] {
  const p = new Stages({
    detection,
    decoder: { format: 'auto', guard: { maxClockSkewMs: Number.MAX_SAFE_INTEGER } },
    mesh: MeshConfigSchema.parse({}),
    policies,
  });
  const lines = ids.map((id) => claims.get(id)?.line ?? published.get(id)?.line ?? '');
  p.processLines(lines, 'file:claims.log', (i) => String(i + 1));
  p.finish();
  return p.takeAlerts();
}

/** The same with a deny-by-default policy that allows `allow`. */
function replay(ids: readonly string[], allow: string[]): Alert[] {
  const policy = new PipelinePolicyEvaluator(
    { defaultAction: 'deny', policies: [{ name: 'in-mesh-only', source: {}, allow }] },
    'policy.yaml',
  );
  return replayWith(ids, new PolicySet([policy]));
}

describe('name-mismatch, and a chosen name no longer hides egress (#15 item 1)', () => {
  it.each([
    ['K8S', 'kubernetes.default.svc.cluster.local', null],
    ['SNIX', 'x', null],
    ['POSTX', null, 'x'],
    ['ISTIOSNI', 'outbound_.443_._.payments.prod.svc.cluster.local', null],
  ])('%s: PassthroughCluster to 203.0.113.9 under an in-mesh name is bypass, forbidden and a name mismatch', (id, sni, authority) => {
    const alerts = replay([id], ['*.svc.cluster.local', 'x']);
    const byRule = new Map(alerts.map((a) => [a.rule.id, a]));
    expect([...byRule.keys()].sort()).toEqual(['forbidden-destination', 'gateway-bypass', 'name-mismatch']);
    for (const a of alerts) expect(a.destination.ip).toBe('203.0.113.9');
    const mismatch = byRule.get('name-mismatch');
    expect(mismatch?.severity).toBe('high');
    expect(mismatch?.evidence).toMatchObject({
      kind: 'mesh-name-external-address',
      sni,
      authority,
      ip: '203.0.113.9',
    });
    expect(byRule.get('gateway-bypass')?.reason).toContain('203.0.113.9');
  });

  it('gateway-bypass.ignoreHosts and exceptions cannot match the claimed name', () => {
    const config = parsePipelineConfig(
      {
        detection: {
          detectors: { 'gateway-bypass': { ignoreHosts: ['kubernetes.default.svc.cluster.local'] } },
          exceptions: [
            { rule: '*', destination: 'kubernetes.default.svc.cluster.local', reason: 'API server' },
          ],
        },
      },
      '(test)',
    );
    const rules = replayWith(['K8S'], new PolicySet([]), config.detection).map((a) => a.rule.id);
    expect(rules).toContain('gateway-bypass');
    expect(rules).toContain('name-mismatch');
  });

  it('METADATA: a name only the client gave (PassthroughCluster) exempts nothing; the IP does', () => {
    const run = (ignore: string) => {
      const config = parsePipelineConfig(
        {
          detection: {
            detectors: { 'gateway-bypass': { ignoreHosts: [ignore] } },
            exceptions: [{ rule: 'new-destination', destination: ignore, reason: 'metadata API' }],
          },
        },
        '(test)',
      );
      return replayWith(['METADATA'], new PolicySet([]), config.detection).map((a) => a.rule.id);
    };
    expect(run('metadata.google.internal')).toContain('gateway-bypass');
    expect(run('203.0.113.9')).not.toContain('gateway-bypass');
  });

  it('FRONT: SNI and authority of different registrable domains raise a name mismatch naming both', () => {
    const alerts = replay(['FRONT'], ['www.ibm.com', 'evil.com']);
    const mismatch = alerts.find((a) => a.rule.id === 'name-mismatch');
    expect(mismatch?.evidence).toMatchObject({
      kind: 'sni-authority-mismatch',
      sni: 'www.ibm.com',
      authority: 'evil.com',
    });
    expect(mismatch?.reason).toContain('domain fronting');
  });

  it("judges a connection through the SNI-forwarding gateway once, on the inner leg's host, naming the join", () => {
    // Published as read: the gateway's lines (inner before outer), then the sidecar's; only en allowed.
    const alerts = replay(['SNI1', 'SNI2', 'SNI5', 'SNI6', 'SNI3', 'SNI7'], ['en.wikipedia.org']);
    const forbidden = alerts.filter((a) => a.rule.id === 'forbidden-destination');
    expect(forbidden.map((a) => [a.source.ip, a.destination.domain, a.destination.ip])).toEqual([
      ['172.17.34.35', 'de.wikipedia.org', '185.15.59.224'],
    ]);
    expect(forbidden[0]?.evidence.join).toMatchObject({
      by: 'internal-listener',
      otherLeg: 'file:claims.log:3',
      outerLeg: 'file:claims.log:4',
    });
  });

  it('raises nothing on the published lines of a mesh with an egress gateway in istio-egress', () => {
    const alerts = replay(['SNI1', 'SNI2', 'SNI3', 'I38213OUT', 'I38213IN'], ['*.wikipedia.org']);
    expect(alerts.map((a) => a.rule.id)).toEqual([]);
  });

  it('EXTNAME: a mesh service whose cluster sends outside is bypass, not a name mismatch', () => {
    const rules = replay(['EXTNAME'], ['*.svc.cluster.local', 'billing-api']).map((a) => a.rule.id);
    expect(rules).toContain('gateway-bypass');
    expect(rules).not.toContain('name-mismatch');
  });
});
