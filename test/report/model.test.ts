import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { renderReport } from '../../src/report/html.js';
import { buildModel } from '../../src/report/model.js';
import { evidenceFields, humanBytes, humanDuration } from '../../src/report/units.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-sentinel-report-'));

/** One record of an alert as the alert stage writes it: fired, updated with its count, resolved. */
function record(id: string, at: string, over: Partial<Alert['alert']>, rest: Partial<Alert> = {}): Alert {
  return {
    '@timestamp': at,
    alert: {
      id,
      status: 'firing',
      repeats: 0,
      first_seen: '2025-03-03T12:00:00.000Z',
      last_seen: at,
      ...over,
    },
    rule: { id: 'gateway-silence', name: 'gateway-silence' },
    severity: 'critical',
    reason: 'the egress gateway logged nothing for 3 minutes while sidecars sent 40 requests to it',
    source: {
      principal: null,
      namespace: 'istio-system',
      workload: 'istio-egressgateway',
      pod: null,
      ip: null,
    },
    destination: { domain: null, registered_domain: null, ip: null, port: null },
    network: { path: null, protocol: null },
    evidence: { sidecarLegs: 40, gatewayLegs: 0, ratio: 0, windowMs: 180_000, bytesUp: 42_439, samples: [] },
    ...rest,
  };
}

function write(name: string, alerts: Alert[]): string {
  const file = join(dir, name);
  writeFileSync(file, alerts.map((a) => JSON.stringify(a)).join('\n'));
  return file;
}

describe('the report tells the truth about alerts', () => {
  const silence = [
    record('s', '2025-03-03T12:00:00.000Z', {}),
    record('s', '2025-03-03T12:30:00.000Z', { repeats: 5 }),
    record('s', '2025-03-03T12:45:00.000Z', { repeats: 7, status: 'resolved' }),
  ];
  const forbidden = [
    record(
      'f',
      '2025-03-03T13:00:00.000Z',
      { first_seen: '2025-03-03T13:00:00.000Z' },
      { rule: { id: 'forbidden-destination', name: 'forbidden-destination' }, severity: 'high' },
    ),
    record(
      'f',
      '2025-03-03T14:00:00.000Z',
      { first_seen: '2025-03-03T13:00:00.000Z', repeats: 2 },
      { rule: { id: 'forbidden-destination', name: 'forbidden-destination' }, severity: 'high' },
    ),
  ];
  // Records out of time order (a Kafka feed read from two partitions): the newest still wins.
  const model = buildModel(
    write('alerts.jsonl', [silence[0], forbidden[1], silence[2], forbidden[0], silence[1]] as Alert[]),
  );
  const html = renderReport(model);

  it('shows one row per alert id, its latest record, and says how many records there were', () => {
    expect(model.records).toBe(5);
    expect(model.alerts.map((a) => [a.alert.id, a.alert.status, a.alert.repeats])).toEqual([
      ['s', 'resolved', 7],
      ['f', 'firing', 2],
    ]);
    expect(html).toContain('<b>2</b>alerts (5 records)');
    expect(html.match(/<tr><td>/g)).toHaveLength(2);
    expect(html.match(/<span class="sev" style="background:#f85149">critical<\/span>/g)).toHaveLength(1);
  });

  it('puts a resolved alert at the time it fired, with its resolve time, status and repeats', () => {
    const row = html
      .split('<tr><td>')
      .slice(1)
      .find((r) => r.includes('gateway-silence')) as string;
    expect(row).toMatch(
      /^2025-03-03 12:00:00<\/td><td>2025-03-03 12:45:00<\/td><td class="status-resolved">resolved<\/td><td class="num"[^>]*>7<\/td>/,
    );
    const firing = html
      .split('<tr><td>')
      .slice(1)
      .find((r) => r.includes('forbidden-destination</td>')) as string;
    expect(firing).toMatch(
      /^2025-03-03 13:00:00<\/td><td><\/td><td class="status-firing">firing<\/td><td class="num"[^>]*>2</,
    );
  });

  it('shows evidence as labelled fields in human units, and a legend', () => {
    expect(html).toContain('<dt>sidecar legs</dt><dd>40</dd>');
    expect(html).toContain('<dt>window</dt><dd>3 min</dd>');
    expect(html).toContain('<dt>bytes up</dt><dd>41 KiB</dd>');
    expect(html).toContain('<dt>ratio</dt><dd>0 %</dd>');
    expect(html).not.toContain('<dt>samples</dt>');
    expect(html).not.toContain('&quot;sidecarLegs&quot;');
    for (const term of ['fired', 'resolved', 'status', 'repeats', 'evidence', 'map'])
      expect(html).toContain(`<dt>${term}</dt>`);
  });
});

describe('units', () => {
  it('bytes, durations and evidence values', () => {
    expect(humanBytes(512)).toBe('512 B');
    expect(humanBytes(42_439)).toBe('41 KiB');
    expect(humanBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(humanDuration(60_000)).toBe('60 s');
    expect(humanDuration(300_000)).toBe('5 min');
    expect(humanDuration(36 * 3_600_000)).toBe('36 h');
    expect(
      evidenceFields({ destinations: Array.from({ length: 10 }, (_, i) => `h${i}`), policy: null }),
    ).toEqual([{ label: 'destinations', value: 'h0, h1, h2, h3, h4, h5, h6, h7 (+2 more)' }]);
  });
});
