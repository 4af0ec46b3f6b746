import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { readAlerts, scoreAttacks } from '../../src/cli/demo.js';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { Ingest } from '../../src/pipeline/ingest.js';
import { FlowAccumulator, type FlowDoc } from '../../src/report/flows.js';
import { alertTable } from '../../src/report/table.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { HOUR } from '../../src/simulate/topology.js';

const START = Date.parse('2025-03-03T00:00:00Z');
const traffic = generateTraffic({
  envelope: 'fluent-bit',
  durationMs: 2 * HOUR,
  attacks: ['bypass', 'blocked-probing'],
  attackStart: START + HOUR,
});

const alert = (rule: Alert['rule']['id'], at: string, reason: string): Alert => ({
  '@timestamp': at,
  alert: { id: 'x', status: 'firing', repeats: 0, first_seen: at, last_seen: at },
  rule: { id: rule, name: rule },
  severity: 'high',
  reason,
  source: { principal: null, namespace: 'app-a', workload: 'app-a', pod: null, ip: null },
  destination: { domain: 'evil.example', registered_domain: 'evil.example', ip: null, port: 443 },
  network: { path: 'passthrough', protocol: 'tls' },
  evidence: {},
});

/** What `replay --flows` writes: the Ingest stage's egress events, summed per pair. */
function flowsFromLines(lines: readonly string[]): FlowDoc[] {
  const ingest = new Ingest({ decoder: {}, mesh: MeshConfigSchema.parse({}) });
  const flows = new FlowAccumulator();
  ingest.read({ lines, source: 'demo', position: (i) => String(i + 1) }, (e) => flows.observe(e));
  return flows.docs();
}

describe('demo helpers', () => {
  it('summarises egress flows per source and destination through the real decoder', () => {
    const flows = flowsFromLines([...traffic]);
    const ibm = flows.find(
      (f) =>
        f.source.key === 'app-a/app-a' &&
        f.destination.domain === 'api.ibm.com' &&
        f.network.reporter === 'egress-gateway',
    );
    expect(ibm?.network.path).toBe('gateway-to-external');
    expect(ibm?.connections).toBeGreaterThan(50);
    expect(flows.some((f) => f.network.path === 'passthrough' && f.source.key === 'app-a/app-a')).toBe(true);
    expect(flows.some((f) => f.network.path === 'blackhole' && f.source.key === 'app-b/app-b')).toBe(true);
    expect(flows.every((f) => f.network.path !== 'inbound' && f.network.path !== 'internal')).toBe(true);
  });

  it('scores each injected attack as caught (with time to detect) or missed', () => {
    const manifest = traffic.manifest;
    const bypassStart = manifest.attacks.find((a) => a.name === 'bypass')?.start as string;
    const lines = scoreAttacks(manifest, [
      alert('gateway-bypass', new Date(Date.parse(bypassStart) + 30_000).toISOString(), 'r'),
    ]);
    expect(lines.find((l) => l.includes('bypass'))).toMatch(/caught\s+bypass\s+gateway-bypass after 30 s/);
    expect(lines.find((l) => l.includes('blocked-probing'))).toMatch(/missed\s+blocked-probing/);
  });

  it('prints a fixed-width table and strips terminal control characters from log-derived text', () => {
    const table = alertTable(
      [alert('beaconing', '2025-03-03T12:00:00.000Z', 'evil \u001b[31mred\u001b[0m reason')],
      40,
    );
    expect(table).not.toContain('\u001b');
    expect(table.split('\n')[2]).toMatch(/^2025-03-03 12:00:00 {2}beaconing {16}high/);
  });

  it('keeps the last record of each alert id (fired, then resolved) and orders by first seen', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'alerts-')), 'alerts.jsonl');
    const fired = alert('gateway-silence', '2025-03-03T13:08:00.000Z', 'silent');
    const resolved = {
      ...fired,
      '@timestamp': '2025-03-03T13:38:00.000Z',
      alert: { ...fired.alert, status: 'resolved' as const, last_seen: '2025-03-03T13:38:00.000Z' },
    };
    const other = {
      ...alert('beaconing', '2025-03-03T12:00:00.000Z', 'b'),
      alert: { ...fired.alert, id: 'y', first_seen: '2025-03-03T12:00:00.000Z' },
    };
    writeFileSync(file, [fired, other, resolved].map((a) => JSON.stringify(a)).join('\n'));
    const alerts = readAlerts(file);
    expect(alerts.map((a) => [a.rule.id, a.alert.status])).toEqual([
      ['beaconing', 'firing'],
      ['gateway-silence', 'resolved'],
    ]);
    expect(alertTable(alerts, 60)).toMatch(/2025-03-03 13:08:00 {2}gateway-silence.*\[resolved\] silent/);
  });
});
