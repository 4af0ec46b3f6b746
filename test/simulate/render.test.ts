import { describe, expect, it } from 'vitest';
import { generateTraffic } from '../../src/simulate/generate.js';
import { textTokens } from './tokens.js';

// Istio's JSON key set (EnvoyJSONLogFormatIstio, reference §2) plus the peer URI SAN we add.
const ISTIO_JSON_KEYS = [
  'start_time',
  'route_name',
  'method',
  'path',
  'protocol',
  'response_code',
  'response_flags',
  'response_code_details',
  'connection_termination_details',
  'upstream_transport_failure_reason',
  'bytes_received',
  'bytes_sent',
  'duration',
  'upstream_service_time',
  'x_forwarded_for',
  'user_agent',
  'request_id',
  'authority',
  'upstream_host',
  'upstream_cluster',
  'upstream_local_address',
  'downstream_local_address',
  'downstream_remote_address',
  'requested_server_name',
  'downstream_peer_uri_san',
];

const L2 =
  '[2024-01-11T21:09:42.835Z] "- - -" 0 - - - "-" 839 2504306 231 - "-" "-" "-" "-" "151.101.195.5:443" outbound|443||edition.cnn.com 172.30.239.8:34470 172.30.239.8:443 172.30.239.15:43956 edition.cnn.com -';

const sample = (format: 'text' | 'json') => [
  ...generateTraffic({
    format,
    durationMs: 3 * 3_600_000,
    attacks: ['bypass', 'blocked-probing'],
    attackStart: Date.parse('2025-03-03T01:00:00Z'),
  }),
];

describe('TEXT rendering', () => {
  it('tokenises the reference gateway line into the 22 positions of the 1.23+ default format', () => {
    const t = textTokens(L2);
    expect(t).toHaveLength(22);
    expect(t[16]).toBe('outbound|443||edition.cnn.com');
  });

  it('writes every line with the 22 positional tokens and sane values in each', () => {
    const lines = sample('text');
    expect(lines.length).toBeGreaterThan(1000);
    for (const line of lines) {
      const t = textTokens(line);
      expect(t, line).toHaveLength(22);
      expect(t[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(t[1]).toMatch(/^(- - -|[A-Z]+ \S+ HTTP\/1\.1)$/);
      expect(t[2]).toMatch(/^\d+$/);
      expect(t[7]).toMatch(/^\d+$/); // bytes received
      expect(t[8]).toMatch(/^\d+$/); // bytes sent
      expect(t[16]).toMatch(
        /^(outbound\|\d+\|[a-z]*\|\S+|inbound\|\d+\|\||PassthroughCluster|BlackHoleCluster)$/,
      );
      expect(t[19]).toMatch(/^10\.244\.\d+\.\d+:\d+$/); // downstream remote is always a pod (or outsider) IP
    }
  });

  it('writes BlackHoleCluster lines the way Envoy logs a dropped connection', () => {
    const blocked = sample('text')
      .map(textTokens)
      .filter((t) => t[16] === 'BlackHoleCluster');
    expect(blocked.length).toBeGreaterThan(10);
    for (const t of blocked) {
      expect([t[2], t[3], t[15], t[17]]).toEqual(['0', 'UH', '-', '-']);
      expect(t[18]).toMatch(/^\d+\.\d+\.\d+\.\d+:\d+$/);
    }
  });
});

describe('JSON rendering', () => {
  it('uses exactly the Istio key set in order, plus downstream_peer_uri_san, with string values', () => {
    const expected = ISTIO_JSON_KEYS.join(',');
    const bad = sample('json').filter((line) => {
      const obj = JSON.parse(line) as Record<string, unknown>;
      return Object.keys(obj).join(',') !== expected || Object.values(obj).some((v) => typeof v !== 'string');
    });
    expect(bad).toEqual([]);
  });

  it('renders the same request identically in TEXT and JSON', () => {
    const text = sample('text')[0] as string;
    const json = JSON.parse(sample('json')[0] as string) as Record<string, string>;
    const t = textTokens(text);
    expect(t[0]).toBe(json.start_time);
    expect(t[16]).toBe(json.upstream_cluster);
    expect(t[19]).toBe(json.downstream_remote_address);
    expect(t[20]).toBe(json.requested_server_name);
  });
});
