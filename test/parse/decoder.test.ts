import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LineDecoder } from '../../src/parse/decoder.js';
import { loadFixtures } from '../fixtures/load.js';
import { CollectingSink } from './collecting-sink.js';

function envelope(name: string): string {
  return readFileSync(
    fileURLToPath(new URL(`../fixtures/envelopes/${name}`, import.meta.url)),
    'utf8',
  ).trimEnd();
}
function decode(raw: string, decoder = new LineDecoder()): CollectingSink {
  const sink = new CollectingSink();
  decoder.decode(raw, sink);
  return sink;
}
const real = loadFixtures('reference-lines.txt');
const bad = loadFixtures('bad-lines.txt');

describe('LineDecoder envelopes', () => {
  it('opens a Fluent Bit record and fills the metadata from kubernetes and its labels', () => {
    const s = decode(envelope('fluent-bit.json'));
    expect(s.records).toHaveLength(1);
    expect(s.records[0]?.record.authority).toBe('edition.cnn.com');
    expect(s.records[0]?.meta).toMatchObject({
      namespace: 'default',
      pod: 'cnn-egress-gateway-istio-7f9c8d6b5-x2k9q',
      podIp: '172.30.239.16',
      container: 'istio-proxy',
      node: 'node-1',
      workload: 'cnn-egress-gateway-istio',
      gatewayName: 'cnn-egress-gateway',
      istioLabel: null,
      shippedAt: Date.parse('2024-01-09T15:35:47.290Z'),
    });
  });

  it('reads a JSON access line under a Fluent Bit "message" key and takes app as the workload', () => {
    const s = decode(envelope('fluent-bit-message-json.json'));
    expect(s.records[0]?.record).toMatchObject({
      responseCode: 200,
      bytesSent: 59,
      authority: 'mock-server:8080',
    });
    expect(s.records[0]?.meta.workload).toBe('sleep');
    expect(s.records[0]?.meta.shippedAt).toBe(1765724652600);
  });

  it('reads access fields Fluent Bit merged into the top level (Merge_Log)', () => {
    const s = decode(envelope('fluent-bit-merged.json'));
    expect(s.records[0]?.record.upstreamCluster).toBe('outbound|8080||mock-server.default.svc.cluster.local');
    expect(s.records[0]?.meta.namespace).toBe('default');
  });

  it('opens a Filebeat record, including de-dotted labels', () => {
    const s = decode(envelope('filebeat.json'));
    expect(s.records[0]?.record.authority).toBe('httpbin.org');
    expect(s.records[0]?.meta).toMatchObject({
      pod: 'sleep-5c6bd9b8d4-q8wz7',
      podIp: '10.244.0.67',
      namespace: 'default',
      workload: 'sleep-canonical',
      container: 'istio-proxy',
      node: 'node-1',
    });
  });

  it.each([
    'vector-nested.json',
    'vector-flat.json',
  ])('opens a Vector kubernetes_logs record (%s)', (file) => {
    const s = decode(envelope(file));
    expect(s.records[0]?.record.upstreamCluster).toBe('BlackHoleCluster');
    expect(s.records[0]?.meta).toMatchObject({
      pod: 'sleep-5c6bd9b8d4-q8wz7',
      namespace: 'default',
      podIp: '10.244.0.67',
      workload: 'sleep',
    });
  });

  it('reads every log record of an OTLP export, with resource attributes as metadata', () => {
    const s = decode(envelope('otlp.json'));
    expect(s.records).toHaveLength(2);
    expect(s.skips).toEqual(['proxy log (pilot-agent/Envoy)']);
    expect(s.records[1]?.record.requestedServerName).toBe('edition.cnn.com');
    expect(s.records[0]?.meta).toMatchObject({
      namespace: 'istio-system',
      pod: 'istio-egressgateway-6c9f7b8d4-x2k9q',
      istioLabel: 'egressgateway',
      workload: 'istio-egressgateway',
    });
    expect(s.records[0]?.meta.shippedAt).toBe(1704814547290);
  });

  it('opens a Docker json-file line', () => {
    const s = decode(envelope('docker.json'));
    expect(s.records[0]?.record.authority).toBe('httpbin.org');
    expect(s.records[0]?.meta.pod).toBeNull();
  });

  it('opens CRI lines, skips partial ones and proxy logs inside them', () => {
    const [full, partial, agent] = envelope('cri.log').split('\n') as [string, string, string];
    expect(decode(full).records[0]?.record.authority).toBe('httpbin.org');
    expect(decode(partial).skips).toEqual(['CRI partial line (P)']);
    expect(decode(agent).skips).toEqual(['proxy log (pilot-agent/Envoy)']);
  });

  it('names the envelope when its payload has the wrong type', () => {
    const s = decode('{"log":null,"kubernetes":{"pod_name":"p","namespace_name":"n"}}');
    expect(s.bad[0]?.reason).toBe(
      'Fluent Bit envelope: "log"/"message" is null, expected the access line as a string',
    );
  });

  it('prefixes the envelope name to a broken inner line and keeps the whole raw input', () => {
    const raw = JSON.stringify({
      log: bad.get('TRUNC')?.line,
      kubernetes: { pod_name: 'p', namespace_name: 'n' },
    });
    const s = decode(raw);
    expect(s.bad[0]?.reason).toBe(
      'fluent-bit: TEXT access line: expected 22 fields for the 1.9+ layout, found 16 (tried 1.9+)'.replace(
        ' (tried 1.9+)',
        '',
      ),
    );
    expect(s.bad[0]?.raw).toBe(raw);
  });
});

describe('LineDecoder line classes', () => {
  it.each(['AGENT1', 'AGENT2', 'AGENT3', 'L10'])('skips the pilot-agent line %s as a proxy log', (id) => {
    expect(decode(real.get(id)?.line ?? '').skips).toEqual(['proxy log (pilot-agent/Envoy)']);
  });

  it('skips YAML dumps and blank lines with a reason', () => {
    expect(decode(real.get('YAML')?.line ?? '').skips[0]).toBe('not an access line (neither TEXT nor JSON)');
    expect(decode('').skips).toEqual(['blank line']);
    expect(decode('   ').skips).toEqual(['blank line']);
  });

  it("skips Envoy's own bracketed log lines", () => {
    expect(decode('[2020-06-29 23:37:27.285][15][info][main] starting main dispatch loop').skips).toEqual([
      'proxy log (Envoy)',
    ]);
  });

  it('skips JSON-formatted pilot-agent logs', () => {
    expect(
      decode('{"level":"info","time":"2024-01-01T00:00:00Z","scope":"xdsproxy","msg":"connected"}').skips,
    ).toEqual(['proxy log (JSON)']);
  });

  it.each(
    [...bad.values()].filter((f) => f.line.startsWith('{')),
  )('dead-letters broken JSON line $id', (f) => {
    const s = decode(f.line);
    expect(s.bad[0]?.reason).toContain(f.tag);
  });

  it('dead-letters JSON that is neither an access line nor an envelope, naming its keys', () => {
    expect(decode('{"foo":1,"bar":2}').bad[0]?.reason).toBe(
      'JSON object is neither an access line nor a known envelope (keys: foo, bar)',
    );
  });

  it('reads typed JSON with numbers and nulls', () => {
    const s = decode(
      '{"start_time":"2024-01-01T00:00:00Z","response_code":200,"bytes_sent":5,"authority":null,"downstream_peer_uri_san":"spiffe://cluster.local/ns/a/sa/b"}',
    );
    expect(s.records[0]?.record).toMatchObject({
      responseCode: 200,
      bytesSent: 5,
      authority: null,
      peerPrincipal: 'spiffe://cluster.local/ns/a/sa/b',
    });
  });

  it('forces a format: with --format json a TEXT line is not read', () => {
    const s = decode(real.get('L1')?.line ?? '', new LineDecoder({ format: 'json' }));
    expect(s.records).toHaveLength(0);
    expect(s.skips).toHaveLength(1);
  });

  it('tries a configured custom format first and falls back to the Istio layouts', () => {
    const d = new LineDecoder({
      customFormat: '%START_TIME% %REQ(:AUTHORITY)% %DOWNSTREAM_PEER_URI_SAN% %BYTES_SENT%\n',
    });
    const s = decode('2024-01-01T00:00:00.000Z api.example.com spiffe://cluster.local/ns/a/sa/b 42', d);
    expect(s.records[0]?.record).toMatchObject({
      authority: 'api.example.com',
      peerPrincipal: 'spiffe://cluster.local/ns/a/sa/b',
      bytesSent: 42,
    });
    expect(decode(real.get('L2')?.line ?? '', d).records).toHaveLength(1);
  });
});
