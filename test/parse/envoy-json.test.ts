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
});
