import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { alertGroupTable, groupAlerts } from '../../src/report/table.js';

const alert = (
  id: string,
  rule: Alert['rule']['id'],
  at: string,
  repeats: number,
  domain: string | null,
): Alert => ({
  '@timestamp': at,
  alert: { id, status: 'firing', repeats, first_seen: at, last_seen: at },
  rule: { id: rule, name: rule },
  severity: 'critical',
  reason: `${rule} at ${at}`,
  source: { principal: null, namespace: 'web', workload: 'frontend', pod: null, ip: null },
  destination: { domain, registered_domain: 'telemetry-updates.net', ip: '151.1.2.3', port: 443 },
  network: { path: 'sidecar-to-gateway', protocol: 'tls' },
  evidence: {},
});

describe('alert group table', () => {
  const alerts = [
    alert('a', 'forbidden-destination', '2025-03-04T00:07:38.000Z', 11, 'cdn-sync.telemetry-updates.net'),
    alert('b', 'forbidden-destination', '2025-03-04T01:12:32.000Z', 11, 'cdn-sync.telemetry-updates.net'),
    alert('c', 'beaconing', '2025-03-04T00:32:09.000Z', 3, 'cdn-sync.telemetry-updates.net'),
    alert('d', 'volume-spike', '2025-03-04T04:07:32.000Z', 0, null),
  ];

  it('shows one row per rule, source and destination with every finding counted, first row first', () => {
    const rows = alertGroupTable(alerts, 40).split('\n').slice(2);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(
      /^ {4}24 {2}2025-03-04 00:07:38 {2}forbidden-destination .*forbidden-destination at 2025-03-04T00:/,
    );
    expect(rows[1]).toMatch(/^ {5}4 {2}2025-03-04 00:32:09 {2}beaconing/);
  });

  it('names a domain-wide finding by its registrable domain, not by the IP of the event that crossed', () => {
    const spike = groupAlerts(alerts).find((g) => g.rule === 'volume-spike');
    expect(spike?.destination).toBe('*.telemetry-updates.net');
  });
});
