import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { alertGroupTable, alertTable, groupAlerts } from '../../src/report/table.js';

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
    // Continuation lines of a wrapped reason start under the reason column.
    const rows = alertGroupTable(alerts, 40)
      .split('\n')
      .slice(2)
      .filter((l) => l.slice(0, 6).trim() !== '');
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(
      /^ {4}24 {2}2025-03-04 00:07:38 {2}forbidden-destination .*forbidden-destination at/,
    );
    expect(rows[1]).toMatch(/^ {5}4 {2}2025-03-04 00:32:09 {2}beaconing/);
  });

  it('wraps a long reason under its column instead of cutting it', () => {
    const reason = `app-a/app-a reached ${'very-long-subdomain.'.repeat(4)}example.com, which the policy istio-system/egress-allow-list does not allow (the source's allow rules: rule 0)`;
    const lines = alertTable([{ ...(alerts[0] as Alert), reason }], 40)
      .split('\n')
      .slice(2);
    expect(lines.length).toBeGreaterThan(3);
    const indent = (lines[0] as string).indexOf('app-a/app-a reached');
    for (const l of lines.slice(1)) {
      expect(l.slice(0, indent).trim()).toBe('');
      expect(l.length - indent).toBeLessThanOrEqual(40);
    }
    const text = lines.map((l) => l.slice(indent)).join(' ');
    expect(text.replace(/\s+/g, '')).toBe(reason.replace(/\s+/g, ''));
  });

  it('on a 120-column terminal puts the whole reason on lines of its own, every line within 120', () => {
    const reason = `${'a long reason that names hosts, policies and counts '.repeat(5)}end`;
    const table = alertGroupTable([{ ...(alerts[0] as Alert), reason }], 40, 120);
    const lines = table.split('\n');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(120);
    const below = lines.filter((l) => l.startsWith('        ') && !l.startsWith('         '));
    expect(below.map((l) => l.trim()).join(' ')).toBe(reason);
  });

  it('names a domain-wide finding by its registrable domain, not by the IP of the event that crossed', () => {
    const spike = groupAlerts(alerts).find((g) => g.rule === 'volume-spike');
    expect(spike?.destination).toBe('*.telemetry-updates.net');
  });
});
