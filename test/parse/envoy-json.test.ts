import { describe, expect, it } from 'vitest';
import { EnvoyJsonParser, ISTIO_JSON_FORMAT, looksLikeJsonAccess } from '../../src/parse/envoy-json.js';
import { newAccessRecord } from '../../src/parse/types.js';
import { fixture, loadFixtures } from '../fixtures/load.js';

const bad = loadFixtures('bad-lines.txt');

function parse(line: string, parser = new EnvoyJsonParser()) {
  const rec = newAccessRecord();
  const outcome = parser.parse(line, rec);
  return { outcome, rec };
}

/** An Istio 1.1.0 JSON line (EnvoyJSONLogFormat, reference §2): note "method" holds %START_TIME%. */
const istio110 = JSON.stringify({
  start_time: '2019-03-20T10:12:01.120Z',
  method: '2019-03-20T10:12:01.120Z',
  path: '-',
  protocol: '-',
  response_code: '0',
  response_flags: '-',
  bytes_received: '839',
  bytes_sent: '2504306',
  duration: '231',
  upstream_service_time: '-',
  x_forwarded_for: '-',
  user_agent: '-',
  request_id: '-',
  authority: '-',
  upstream_host: '151.101.195.5:443',
  upstream_cluster: 'outbound|443||edition.cnn.com',
  upstream_local_address: '172.30.109.80:41420',
  downstream_local_address: '151.101.195.5:443',
  downstream_remote_address: '172.30.109.80:41418',
  requested_server_name: 'edition.cnn.com',
  istio_policy_status: '-',
});

describe('EnvoyJsonParser', () => {
  it('reads the string-valued Istio JSON line L16, with "-" as absent', () => {
    const { outcome, rec } = parse(fixture('reference-lines.txt', 'L16'));
    expect(outcome).toEqual({ kind: 'access' });
    expect(rec).toMatchObject({
      startTime: Date.UTC(2025, 11, 14, 15, 4, 12, 558),
      method: 'GET',
      path: '/status/200',
      responseCode: 200,
      responseFlags: null,
      responseCodeDetails: 'via_upstream',
      bytesReceived: 0,
      bytesSent: 59,
      durationMs: 10,
      authority: 'mock-server:8080',
      upstreamCluster: 'outbound|8080||mock-server.default.svc.cluster.local',
      requestedServerName: null,
    });
    // Keys nothing downstream reads are not copied.
    expect(rec).not.toHaveProperty('protocol');
    expect(rec).not.toHaveProperty('userAgent');
  });

  it('reads typed JSON: numbers as numbers and null as absent', () => {
    const { outcome, rec } = parse(
      JSON.stringify({
        start_time: '2024-01-09T15:35:47.283Z',
        method: null,
        response_code: 0,
        response_flags: 'UH',
        bytes_received: 839,
        bytes_sent: 2504306,
        duration: 231,
        upstream_host: null,
        upstream_cluster: 'BlackHoleCluster',
        downstream_local_address: '142.251.36.4:443',
        requested_server_name: 'www.google.com',
        route_name: null,
      }),
    );
    expect(outcome).toEqual({ kind: 'access' });
    expect(rec).toMatchObject({
      method: null,
      responseCode: 0,
      responseFlags: 'UH',
      bytesReceived: 839,
      bytesSent: 2504306,
      durationMs: 231,
      upstreamHost: null,
      upstreamCluster: 'BlackHoleCluster',
      requestedServerName: 'www.google.com',
    });
  });

  it('ignores the timestamp Istio 1.1.0 wrote into "method", so a TCP line is not taken for HTTP', () => {
    const { outcome, rec } = parse(istio110);
    expect(outcome).toEqual({ kind: 'access' });
    expect(rec.method).toBeNull();
    expect(rec.startTime).toBe(Date.UTC(2019, 2, 20, 10, 12, 1, 120));
    expect(rec.bytesSent).toBe(2504306);
    expect(rec.requestedServerName).toBe('edition.cnn.com');
  });

  it('accepts lines whose absent keys were omitted (omitEmptyValues) and resets what the last line set', () => {
    const parser = new EnvoyJsonParser();
    const rec = newAccessRecord();
    parser.parse(fixture('reference-lines.txt', 'L16'), rec);
    expect(rec.method).toBe('GET');
    const out = parser.parse(
      JSON.stringify({
        start_time: '2024-01-11T21:09:42.835Z',
        upstream_cluster: 'PassthroughCluster',
        bytes_sent: '10',
      }),
      rec,
    );
    expect(out).toEqual({ kind: 'access' });
    expect(rec).toMatchObject({ method: null, path: null, authority: null, responseCode: 0, bytesSent: 10 });
    expect(rec.upstreamCluster).toBe('PassthroughCluster');
  });

  it('reads the caller principal users add at the egress gateway, and strips the pre-1.23 ";" cluster suffix', () => {
    const { rec } = parse(
      JSON.stringify({
        start_time: '2024-01-09T15:35:47.283Z',
        upstream_cluster: 'outbound|443||edition.cnn.com;',
        downstream_peer_uri_san: 'spiffe://cluster.local/ns/default/sa/sleep',
        upstream_peer_uri_san: 'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway',
      }),
    );
    expect(rec.peerPrincipal).toBe('spiffe://cluster.local/ns/default/sa/sleep');
    expect(rec.upstreamCluster).toBe('outbound|443||edition.cnn.com');
  });

  it.each(['BADJSON', 'JSONNUM'])('gives the reason for the broken line %s', (id) => {
    const f = bad.get(id);
    const { outcome } = parse(f?.line as string);
    expect(outcome.kind).toBe('malformed');
    expect(outcome.kind === 'malformed' && outcome.reason).toContain(f?.tag);
  });

  it('names the key of a start time that is not a time, and refuses a JSON array', () => {
    const { outcome } = parse(JSON.stringify({ start_time: 'yesterday', response_code: '200' }));
    expect(outcome.kind === 'malformed' && outcome.reason).toMatch(/"start_time" is not a time: "yesterday"/);
    expect(parse('[1,2]').outcome).toEqual({
      kind: 'malformed',
      reason: 'JSON access line: not a JSON object',
    });
  });

  it('tells access records from other JSON objects by their access keys', () => {
    expect(looksLikeJsonAccess(JSON.parse(fixture('reference-lines.txt', 'L16')))).toBe(true);
    expect(looksLikeJsonAccess({ level: 'info', msg: 'Envoy proxy is ready' })).toBe(false);
    expect(Object.keys(ISTIO_JSON_FORMAT)).toContain('upstream_transport_failure_reason');
  });

  describe('reading a line in place from its escaped form (parseEscaped)', () => {
    const istio = (extra: Record<string, string> = {}) =>
      JSON.stringify({
        start_time: '2025-03-03T10:00:00.234Z',
        route_name: '-',
        method: 'POST',
        path: '/v1/upload',
        protocol: 'HTTP/1.1',
        response_code: '200',
        response_flags: '-',
        connection_termination_details: '-',
        bytes_received: '52000',
        bytes_sent: '230',
        duration: '147',
        user_agent: 'curl/8.5.0',
        request_id: '6c1c1b62-3a7a-4b0c-9d2e-1f0b8b2c0f11',
        authority: 'api.example.com',
        upstream_host: '10.244.0.23:8443',
        upstream_cluster: 'outbound|443||api.example.com',
        downstream_remote_address: '10.244.0.14:35481',
        requested_server_name: '-',
        downstream_peer_uri_san: 'spiffe://cluster.local/ns/app-a/sa/app-a',
        ...extra,
      });
    /** The line as a Fluent Bit record carries it: `{"log":"<escaped line>\n","stream":"stdout"}`. */
    const record = (line: string, newline = '\n') =>
      `{"log":${JSON.stringify(line + newline)},"stream":"stdout"}`;
    const START = '{"log":"'.length;

    /** parseEscaped's result, or null when it declined; the end must be the log string's end. */
    function inPlace(parser: EnvoyJsonParser, line: string, newline = '\n') {
      const raw = record(line, newline);
      const rec = newAccessRecord();
      const end = parser.parseEscaped(raw, START, rec);
      if (end < 0) return null;
      expect(raw.slice(end)).toBe(',"stream":"stdout"}');
      return rec;
    }

    const readable = [
      istio(),
      istio({ method: '-', path: '-', protocol: '-', response_code: '0', user_agent: '' }),
      istio({ method: '2019-03-20T10:12:01.120Z' }),
      istio({ upstream_cluster: 'outbound|443||api.example.com;' }),
      istio({ bytes_sent: '0', extra_key: 'x.y(z)+*' }),
      fixture('reference-lines.txt', 'L16'),
      istio110,
      `{"start_time":"2025-03-03T10:00:00Z","authority":"a.example.com","authority":"b.example.com"}`,
      `{"start_time":"2025-03-03T10:00:00Z","authority":"a.example.com","authority":"-"}`,
      `{ "start_time" : "2025-03-03T10:00:00Z" , "response_code":"503" }`,
      '{"start_time":"2025-03-03T10:00:00Z","path":"/café"}',
    ];

    it('fills exactly what parsing the decoded line fills, key by key and through the learned pattern', () => {
      const parser = new EnvoyJsonParser();
      // Three rounds: read key by key, compiled on the repeat, then matched by the compiled patterns.
      for (let round = 0; round < 3; round++) {
        for (const line of readable) {
          for (let twice = 0; twice < 2; twice++) {
            const rec = inPlace(parser, line);
            expect({ round, line, rec }).toEqual({ round, line, rec: parse(line).rec });
          }
        }
      }
      // Without the trailing newline too.
      expect(inPlace(parser, istio(), '')).toEqual(parse(istio()).rec);
    });

    it('declines what it cannot prove the same as the full parse, whether or not a pattern was learned', () => {
      const declined = [
        istio({ user_agent: 'say "hi"' }),
        istio({ path: '/a\\b' }),
        istio({ user_agent: 'tab\there' }),
        istio({ bytes_sent: 'lots' }),
        istio({ start_time: 'yesterday' }),
        `{"start_time":"2025-03-03T10:00:00Z","response_code":200}`,
        `{"start_time":"2025-03-03T10:00:00Z","response_code":null}`,
        `{"start_time":"2025-03-03T10:00:00Z","labels":{"a":"b"}}`,
        '{"start_time":"2025-03-03T10:00:00Z",\t"response_code":"200"}',
        `{}`,
        `[1,2]`,
      ];
      for (const warm of [false, true]) {
        const parser = new EnvoyJsonParser();
        if (warm) for (let i = 0; i < 3; i++) expect(inPlace(parser, istio())).not.toBeNull();
        for (const line of declined)
          expect({ warm, line, rec: inPlace(parser, line) }).toEqual({ warm, line, rec: null });
        // Trailing text after the line, and a line cut short.
        expect(inPlace(parser, istio(), ' ')).toBeNull();
        expect(inPlace(parser, istio(), 'x')).toBeNull();
        expect(inPlace(parser, istio().slice(0, -2))).toBeNull();
      }
    });

    it('declines a record whose string is broken by a raw quote or control character', () => {
      for (const warm of [false, true]) {
        const parser = new EnvoyJsonParser();
        if (warm) for (let i = 0; i < 3; i++) expect(inPlace(parser, istio())).not.toBeNull();
        const good = record(istio());
        for (const raw of [
          good.replace('curl/8.5.0', 'curl/"8.5.0'),
          good.replace('curl/8.5.0', 'curl/\t8.5.0'),
          good.replace('curl/8.5.0', 'curl/\n8.5.0'),
        ]) {
          expect(() => JSON.parse(raw)).toThrow();
          expect(parser.parseEscaped(raw, START, newAccessRecord())).toBe(-1);
        }
      }
    });
  });
});
