/** Issue #15 item 8: a dead letter keeps the line's bytes, also when the problem is found after decoding. */
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { Ingest } from '../../src/pipeline/ingest.js';
import { Rekeyer } from '../../src/scale/rekey.js';
import { trafficLines } from '../integration/helpers/traffic.js';

// An Istio JSON access line without start_time, not in a shipper envelope: it has no time at all.
const timeless = JSON.stringify({
  authority: 'evil.example',
  upstream_cluster: 'PassthroughCluster',
  upstream_host: '203.0.113.9:443',
  downstream_remote_address: '10.0.0.5:40000',
  response_code: 200,
  method: 'POST',
});

describe('the Ingest stage', () => {
  it('accounts for every line: egress events handed on, in-mesh calls, skipped by reason, dead letters', () => {
    const config = parsePipelineConfig({}, '(defaults)');
    const ingest = new Ingest({ decoder: { format: 'auto' }, mesh: config.mesh });
    const egress = trafficLines(0, 10, 5);
    // The same sidecar's inbound side: a call into the mesh, read but not egress.
    const inbound = (egress[1] as string).replace(
      /outbound\|443\|\|istio-egressgateway\S+/,
      'inbound|8080||',
    );
    const envoy = '2025-03-04T10:00:01.000000Z\twarning\tenvoy config\tgRPC config stream closed';
    const lines = [...egress, inbound, envoy, envoy, '[2026-01-15T09:00:00.000Z] "GET / HTTP/1.1" 200'];
    const seen: string[] = [];
    const stats = ingest.read({ lines, source: 'file:x.log', position: (i) => String(i + 1) }, (e, raw) => {
      seen.push(`${e.origin} ${e.path}`);
      expect(raw).toBe(lines[seen.length - 1]);
    });
    expect(seen).toEqual(
      egress.map((_, i) => `file:x.log:${i + 1} ${i % 5 === 0 ? 'passthrough' : 'sidecar-to-gateway'}`),
    );
    expect(stats).toMatchObject({ lines: 14, accessLines: 11, events: 10, notEgress: 1, malformed: 1 });
    expect([...stats.skipped.values()]).toEqual([2]);
    expect(stats.deadLetters).toEqual([
      {
        component: 'parse',
        origin: 'file:x.log:14',
        reason: expect.stringMatching(/TEXT access line/),
        raw: lines[13],
      },
    ]);
    expect(stats.maxTime).toBe(Date.parse('2026-01-15T09:00:09.000Z'));
    // A second read adds to the totals.
    ingest.read({ lines: egress, source: 'file:y.log', position: (i) => String(i + 1) }, () => {});
    expect(ingest.totals).toMatchObject({
      lines: 24,
      events: 20,
      notEgress: 1,
      malformed: 1,
      deadLettered: 1,
    });
  });
});

describe('dead letters of lines without a time', () => {
  it('keep the raw line in the Ingest stage', () => {
    const config = parsePipelineConfig({}, '(defaults)');
    const ingest = new Ingest({ decoder: { format: 'auto' }, mesh: config.mesh });
    const events: string[] = [];
    const stats = ingest.read(
      { lines: [timeless], source: 'file:x.log', position: (i) => String(i + 1) },
      (e) => events.push(e.origin),
    );
    expect(events).toEqual([]);
    expect(stats).toMatchObject({ lines: 1, accessLines: 1, events: 0, malformed: 1, deadLettered: 1 });
    expect(stats.deadLetters).toEqual([
      {
        component: 'parse',
        origin: 'file:x.log:1',
        reason: 'no start time and no shipper timestamp',
        raw: timeless,
      },
    ]);
    expect(ingest.totals).toMatchObject({ lines: 1, malformed: 1, deadLettered: 1 });
  });

  it('keep the raw line in the re-keying stage', () => {
    const r = new Rekeyer(
      {},
      { meshCidrs: ['10.0.0.0/8'], meshDomains: ['cluster.local'], egressGatewayHosts: [] },
    );
    expect(r.rekey([timeless], 'kafka:t', () => '0/7').deadLetters).toEqual([
      {
        component: 'parse',
        origin: 'kafka:t/0/7',
        reason: 'no start time and no shipper timestamp',
        raw: timeless,
      },
    ]);
  });
});
