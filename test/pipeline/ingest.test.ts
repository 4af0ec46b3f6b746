/** Issue #15 item 8: a dead letter keeps the line's bytes, also when the problem is found after decoding. */
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { Ingest } from '../../src/pipeline/ingest.js';
import { Rekeyer } from '../../src/scale/rekey.js';

// An Istio JSON access line without start_time, not in a shipper envelope: it has no time at all.
const timeless = JSON.stringify({
  authority: 'evil.example',
  upstream_cluster: 'PassthroughCluster',
  upstream_host: '203.0.113.9:443',
  downstream_remote_address: '10.0.0.5:40000',
  response_code: 200,
  method: 'POST',
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
      { origin: 'kafka:t:0/7', reason: 'no start time and no shipper timestamp', raw: timeless },
    ]);
  });
});
