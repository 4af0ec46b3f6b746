/**
 * The demo's setup (two simulated days, every attack on day two, Istio JSON in Fluent Bit, the
 * seed's principal-based AuthorizationPolicy at the egress gateway) through the pipeline core. The
 * sidecar legs carry no principal: the policy can only judge them with the principal learned from
 * the gateway legs, so the upload spike to api.ibm.com must read "allowed host".
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coreProcessor, replayThroughCore } from '../../bench/core-replay.js';
import { alertStageOptions } from '../../src/alerts/stage.js';
import type { Alert } from '../../src/alerts/types.js';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { loadPolicyFiles } from '../../src/policy/load.js';
import { groupAlerts } from '../../src/report/table.js';
import { ATTACK_NAMES } from '../../src/simulate/attacks.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { readAlertsFromRecords } from '../helpers/alerts.js';

const DAY = 86_400_000;
const POLICY = join(import.meta.dirname, '../../deploy/istio/authorization-policy.yaml');

function replayDemo(): Alert[] {
  const traffic = generateTraffic({
    seed: 1,
    format: 'json',
    envelope: 'fluent-bit',
    durationMs: 2 * DAY,
    rate: 40,
    attacks: ATTACK_NAMES,
  });
  expect(alertStageOptions(DetectionConfigSchema.parse({})).realertPerRuleMs?.beaconing).toBe(DAY);
  const processor = coreProcessor({ policies: loadPolicyFiles([POLICY]) });
  const records = replayThroughCore(processor, traffic, 'demo');
  return readAlertsFromRecords(records);
}

describe('the demo scenario with the seed AuthorizationPolicy', () => {
  const alerts = replayDemo();
  const spikes = alerts.filter((a) => a.rule.id === 'volume-spike' && a.source.workload === 'app-a');

  it('says "allowed host" for the upload spike to api.ibm.com, judged with the learned principal', () => {
    const spike = spikes.find((a) => a.destination.domain === 'api.ibm.com');
    expect(spike?.reason).toMatch(/^allowed host, \d+x normal upload/);
    expect(spike?.evidence.policyVerdict).toBe('allow');
    expect(spike?.source.principal).toBe('spiffe://cluster.local/ns/app-a/sa/app-a');
  });

  it('reports the upload once, not again as a domain-wide spike keyed by another host', () => {
    // From the upload on (the bypass before it also shows in app A's total upload: another alert).
    const upload = spikes.find((a) => a.destination.domain === 'api.ibm.com');
    // (The subdomain spray later also shows in app A's total requests: a requests spike, not an upload.)
    const after = spikes.filter(
      (a) => a['@timestamp'] >= (upload?.['@timestamp'] ?? '') && a.evidence.metric === 'bytes up',
    );
    expect(after.map((a) => `${a.destination.domain} ${a.destination.ip}`)).toHaveLength(1);
  });

  it('keys every gateway leg of a known workload by namespace/workload, not by its SPIFFE id', () => {
    expect(alerts.filter((a) => sourceKey(a).startsWith('spiffe://')).map((a) => a.reason)).toEqual([]);
  });

  it("shows app A's plain-TCP connections to mongo1.composedb.com as forbidden-destination naming the host, and nothing for app B's", () => {
    const db = alerts.filter((a) => a.destination.domain === 'mongo1.composedb.com');
    const appA = db.filter((a) => a.rule.id === 'forbidden-destination' && a.source.workload === 'app-a');
    expect(appA).toHaveLength(1);
    expect(appA[0]?.reason).toMatch(
      /^app-a\/app-a reached mongo1\.composedb\.com, which its policy does not permit/,
    );
    expect(appA[0]?.network.protocol).toBe('tcp');
    expect(appA[0]?.evidence.decidedBy).toMatchObject({
      'connection.sni': expect.stringMatching(/^mongo1\.composedb\.com \(logged by the gateway/),
      'source.principal': expect.stringContaining('spiffe://cluster.local/ns/app-a/sa/app-a'),
    });
    expect(db.filter((a) => a.source.workload === 'app-b').map((a) => `${a.rule.id}: ${a.reason}`)).toEqual(
      [],
    );
  });

  it('keeps the hours-long beacon to a forbidden host one alert per rule with a growing count', () => {
    const rows = groupAlerts(alerts).filter((g) => g.destination === 'cdn-sync.telemetry-updates.net');
    expect(rows.map((g) => [g.rule, g.alerts.length])).toEqual([
      ['forbidden-destination', 1],
      ['beaconing', 1],
    ]);
    expect(rows[0]?.occurrences).toBeGreaterThan(10);
  });
});

function sourceKey(a: Alert): string {
  return a.source.namespace !== null && a.source.workload !== null
    ? `${a.source.namespace}/${a.source.workload}`
    : (a.source.principal ?? '');
}
