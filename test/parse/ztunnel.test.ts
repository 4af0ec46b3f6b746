import { describe, expect, it } from 'vitest';
import { LineDecoder } from '../../src/parse/decoder.js';
import { newAccessRecord } from '../../src/parse/types.js';
import { ZtunnelParser } from '../../src/parse/ztunnel.js';
import { fixture, loadFixtures } from '../fixtures/load.js';
import { CollectingSink } from './collecting-sink.js';

const FILE = 'ztunnel-lines.txt';
const line = (id: string) => fixture(FILE, id);

function decode(raw: string, format: 'auto' | 'text' | 'json' = 'auto', fastEnvelopes = true) {
  const sink = new CollectingSink();
  new LineDecoder({ format, fastEnvelopes }).decode(raw, sink);
  return sink;
}

function one(raw: string) {
  const sink = decode(raw);
  expect(sink.bad).toEqual([]);
  expect(sink.skips).toEqual([]);
  expect(sink.records).toHaveLength(1);
  const first = sink.records[0];
  if (first === undefined) throw new Error('no record');
  return first;
}

describe('ztunnel records: every field of the published lines', () => {
  it('reads the istio.io outbound record (spaces for tabs, quoted hbone_addr)', () => {
    const { record } = one(line('ISTIO_DEBUG_OUT'));
    expect(record.ztunnel).toEqual({
      direction: 'outbound',
      srcAddr: '10.244.1.12:58508',
      srcWorkload: 'sleep-7656cf8794-r7zb9',
      srcNamespace: 'default',
      srcIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
      srcCluster: null,
      dstAddr: '10.244.1.10:15008',
      dstHboneAddr: '10.244.1.10:9080',
      dstService: 'productpage.default.svc.cluster.local',
      dstWorkload: 'productpage-v1-87d54dd59-fn6vw',
      dstNamespace: 'productpage',
      dstIdentity: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
      dstCluster: null,
      error: null,
    });
    // Outbound: bytes_sent is what the client sent (up), bytes_recv what came back.
    expect(record.bytesReceived).toBe(80);
    expect(record.bytesSent).toBe(175);
    expect(record.durationMs).toBe(1);
    // Logged at close: the start is the time less the duration.
    expect(record.startTime).toBe(Date.parse('2024-05-04T09:59:05.028Z') - 1);
    expect(record.downstreamRemoteAddress).toBe('10.244.1.12:58508');
    expect(record.upstreamHost).toBe('10.244.1.10:15008');
    expect(record.method).toBeNull();
    expect(record.upstreamCluster).toBeNull();
  });

  it('reads an inbound record with the bytes the other way round', () => {
    const { record } = one(line('ISTIO_DEBUG_IN'));
    expect(record.ztunnel?.direction).toBe('inbound');
    expect(record.ztunnel?.dstAddr).toBe('10.244.1.10:9080');
    // Inbound: bytes_sent is what the destination sent back (down).
    expect(record.bytesReceived).toBe(80);
    expect(record.bytesSent).toBe(175);
  });

  it('reads tab-separated records with bare (unquoted) values', () => {
    const { record } = one(line('BARE_VALUES_OUT'));
    expect(record.ztunnel?.srcWorkload).toBe('sleep-bc9998558-bhv5z');
    expect(record.ztunnel?.srcNamespace).toBe('my-ambient');
    expect(record.ztunnel?.dstService).toBe('helloworld.my-ambient.svc.cluster.local');
    expect(record.ztunnel?.dstHboneAddr).toBe('10.12.0.9:5000');
    expect(record.ztunnel?.direction).toBe('outbound');
    expect(record.bytesReceived).toBe(84);
    expect(record.bytesSent).toBe(158);
    expect(record.durationMs).toBe(118);
    expect(record.startTime).toBe(Date.parse('2024-07-23T14:21:03.450Z') - 118);
  });

  it('reads the ztunnel leg to a waypoint (waypoint pod as dst.workload, the VIP inside HBONE)', () => {
    const { record } = one(line('EG_WAYPOINT_OUT'));
    expect(record.ztunnel?.dstWorkload).toBe(
      'envoy-envoy-gateway-system-eg-waypoint-3d55183b-ccc6f8575-gs2hp',
    );
    expect(record.ztunnel?.dstHboneAddr).toBe('10.96.113.62:3000');
    expect(record.ztunnel?.dstAddr).toBe('10.244.0.14:15008');
    expect(record.ztunnel?.srcIdentity).toBe('spiffe://cluster.local/ns/envoy-gateway-system/sa/default');
  });

  it('reads an error record: error text and a flag', () => {
    const { record } = one(line('POLICY_REJECTED'));
    expect(record.ztunnel?.error).toBe(
      'connection closed due to policy rejection: allow policies exist, but none allowed',
    );
    expect(record.responseFlags).toBe('ztunnel_error');
    expect(record.bytesReceived).toBe(0);
    expect(record.durationMs).toBe(0);
  });

  it('reads a plaintext connection: no identities, long duration', () => {
    const { record } = one(line('NO_IDENTITY_COMPLETE'));
    expect(record.ztunnel?.srcIdentity).toBeNull();
    expect(record.ztunnel?.dstIdentity).toBeNull();
    expect(record.ztunnel?.dstHboneAddr).toBeNull();
    expect(record.durationMs).toBe(7571);
  });

  it('reads the JSON record of a direct connection to the internet (istio/istio#58786)', () => {
    const { record } = one(line('ISSUE_58786_DIRECT'));
    expect(record.ztunnel).toMatchObject({
      direction: 'outbound',
      srcAddr: '10.1.0.8:46322',
      srcWorkload: 'istio-debug',
      srcNamespace: 'istio-addons-ingress',
      srcIdentity: null,
      dstAddr: '142.250.191.142:443',
      dstService: null,
      dstHboneAddr: null,
      dstIdentity: null,
    });
    expect(record.bytesReceived).toBe(800);
    expect(record.bytesSent).toBe(8468);
    expect(record.durationMs).toBe(73);
    expect(record.startTime).toBe(Date.parse('2025-11-13T17:22:58.026Z') - 73);
  });

  it('reads JSON outbound and inbound records alike', () => {
    const out = one(line('OTEL_LUA_OUT')).record;
    const inb = one(line('OTEL_LUA_IN')).record;
    expect(out.ztunnel?.direction).toBe('outbound');
    expect(inb.ztunnel?.direction).toBe('inbound');
    expect(out.ztunnel?.dstService).toBe('http-service.default.svc.cluster.local');
    expect(inb.ztunnel?.srcIdentity).toBe('spiffe://cluster.local/ns/default/sa/http-client-sa');
    expect(out.durationMs).toBe(1006);
    expect(inb.durationMs).toBe(1004);
  });

  it('parses every "connection complete" fixture; TEXT and JSON give the same fields for the same record', () => {
    const text =
      '2025-11-13T17:22:58.026256Z\tinfo\taccess\tconnection complete\tsrc.addr=10.1.0.8:46322 src.workload="istio-debug" src.namespace="istio-addons-ingress" dst.addr=142.250.191.142:443 direction="outbound" bytes_sent=800 bytes_recv=8468 duration="73ms"';
    expect(one(text).record).toEqual(one(line('ISSUE_58786_DIRECT')).record);
    for (const f of loadFixtures(FILE).values()) {
      if (!f.line.includes('connection complete')) continue;
      expect(one(f.line).record.ztunnel, f.id).not.toBeNull();
    }
  });
});

describe('ztunnel records through the shippers', () => {
  const bare = one(line('EKS_MTLS_OUT')).record;
  const json = one(line('ISSUE_58786_DIRECT')).record;
  const k8s = {
    pod_name: 'ztunnel-4xk9q',
    namespace_name: 'istio-system',
    pod_ip: '10.129.0.2',
    container_name: 'istio-proxy',
    host: 'node-1',
    labels: { app: 'ztunnel' },
  };
  const cases: [string, string, typeof bare][] = [
    [
      'Fluent Bit (log string)',
      JSON.stringify({ time: '2025-01-23T05:07:26Z', log: `${line('EKS_MTLS_OUT')}\n`, kubernetes: k8s }),
      bare,
    ],
    [
      'Fluent Bit (JSON in log)',
      JSON.stringify({
        time: '2025-11-13T17:22:59Z',
        log: `${line('ISSUE_58786_DIRECT')}\n`,
        kubernetes: k8s,
      }),
      json,
    ],
    [
      'Fluent Bit (Merge_Log)',
      JSON.stringify({ ...JSON.parse(line('ISSUE_58786_DIRECT')), kubernetes: k8s }),
      json,
    ],
    [
      'Filebeat',
      JSON.stringify({
        '@timestamp': '2025-01-23T05:07:26Z',
        message: line('EKS_MTLS_OUT'),
        kubernetes: {
          pod: { name: 'ztunnel-4xk9q' },
          namespace: 'istio-system',
          container: { name: 'istio-proxy' },
        },
      }),
      bare,
    ],
    [
      'Vector',
      JSON.stringify({
        'kubernetes.pod_name': 'ztunnel-4xk9q',
        'kubernetes.pod_namespace': 'istio-system',
        message: line('ISSUE_58786_DIRECT'),
        source_type: 'kubernetes_logs',
        timestamp: '2025-11-13T17:22:59Z',
      }),
      json,
    ],
    [
      'OTLP',
      JSON.stringify({
        resourceLogs: [
          {
            resource: {
              attributes: [
                { key: 'k8s.namespace.name', value: { stringValue: 'istio-system' } },
                { key: 'k8s.pod.name', value: { stringValue: 'ztunnel-4xk9q' } },
              ],
            },
            scopeLogs: [
              {
                logRecords: [
                  { timeUnixNano: '1737608845806642000', body: { stringValue: line('EKS_MTLS_OUT') } },
                ],
              },
            ],
          },
        ],
      }),
      bare,
    ],
    ['CRI', `2025-01-23T05:07:25.900000000Z stdout F ${line('EKS_MTLS_OUT')}`, bare],
  ];
  it.each(cases)('%s', (_name, raw, expected) => {
    for (const fast of [true, false]) {
      const sink = decode(raw, 'auto', fast);
      expect(sink.bad).toEqual([]);
      expect(sink.skips).toEqual([]);
      expect(sink.records).toHaveLength(1);
      expect(sink.records[0]?.record).toEqual(expected);
    }
  });

  it('keeps the ztunnel pod as the shipper metadata (the record names the workloads itself)', () => {
    const sink = decode(JSON.stringify({ log: line('EKS_MTLS_OUT'), kubernetes: k8s }));
    expect(sink.records[0]?.meta.pod).toBe('ztunnel-4xk9q');
  });
});

describe('other ztunnel messages and bad records', () => {
  it('skips and counts connection opened, connection failed and other scopes', () => {
    const opened = decode(line('NO_SERVICE_OPENED'));
    expect(opened.records).toHaveLength(0);
    expect(opened.skips).toEqual(['ztunnel connection opened (debug record)']);
    const failed = decode(
      '2024-08-21T15:33:39.239348Z\twarn\taccess\tconnection failed\tsrc.addr=10.244.0.9:50000 dst.addr=10.244.0.8:15008 direction="inbound" error="unknown source"',
    );
    expect(failed.skips).toEqual(['ztunnel connection failed (denied before connecting)']);
    const dns = decode(line('DNS_DEBUG'));
    expect(dns.records).toHaveLength(0);
    expect(dns.bad).toHaveLength(0);
    expect(dns.skips).toHaveLength(1);
    const jsonOpened = decode(
      '{"level":"debug","time":"2025-11-13T17:22:58.000Z","scope":"access","message":"connection opened","src.addr":"10.1.0.8:46322","dst.addr":"142.250.191.142:443","direction":"outbound"}',
    );
    expect(jsonOpened.skips).toEqual(['ztunnel connection opened (debug record)']);
  });

  it.each([
    [
      'no src.addr',
      '2024-08-21T15:33:39.239348Z\tinfo\taccess\tconnection complete\tdst.addr=1.2.3.4:443 direction="outbound" bytes_sent=1 bytes_recv=2 duration="3ms"',
      'without src.addr and dst.addr',
    ],
    [
      'bytes not a number',
      '2024-08-21T15:33:39.239348Z\tinfo\taccess\tconnection complete\tsrc.addr=10.0.0.1:1 dst.addr=1.2.3.4:443 direction="outbound" bytes_sent=lots bytes_recv=2 duration="3ms"',
      'bytes_sent is not a number',
    ],
    [
      'unclosed quote',
      '2024-08-21T15:33:39.239348Z\tinfo\taccess\tconnection complete\tsrc.addr=10.0.0.1:1 dst.addr=1.2.3.4:443 src.workload="abc',
      'src.workload has no closing quote',
    ],
    [
      'bad direction',
      '{"level":"info","time":"2025-11-13T17:22:58Z","scope":"access","message":"connection complete","src.addr":"10.0.0.1:1","dst.addr":"1.2.3.4:443","direction":"sideways"}',
      'neither outbound nor inbound',
    ],
    [
      'bad duration',
      '{"level":"info","time":"2025-11-13T17:22:58Z","scope":"access","message":"connection complete","src.addr":"10.0.0.1:1","dst.addr":"1.2.3.4:443","duration":"soon"}',
      'duration',
    ],
  ])('dead-letters a record with %s, naming the field', (_name, raw, reason) => {
    const sink = decode(raw);
    expect(sink.records).toHaveLength(0);
    expect(sink.bad).toHaveLength(1);
    expect(sink.bad[0]?.reason).toContain(reason);
    expect(sink.bad[0]?.raw).toBe(raw);
  });

  it('refuses a JSON record that is not valid JSON, naming it, and leaves no field of the record before', () => {
    const parser = new ZtunnelParser();
    const out = newAccessRecord();
    expect(parser.parse(line('ISSUE_58786_DIRECT'), out).kind).toBe('access');
    const outcome = parser.parse('{"scope":"access","message":"connection complete","src.addr":', out);
    expect(outcome.kind === 'malformed' && outcome.reason).toMatch(/^ztunnel JSON record: not valid JSON \(/);
    expect(out.ztunnel).toBeNull();
    expect(out.downstreamRemoteAddress).toBeNull();
  });

  it('clears the ztunnel fields for the Envoy line after a ztunnel record (one reused record)', () => {
    const decoder = new LineDecoder();
    const sink = new CollectingSink();
    decoder.decode(line('EKS_MTLS_OUT'), sink);
    decoder.decode(line('WAYPOINT_EGRESS_HTTPBIN'), sink);
    expect(sink.records[0]?.record.ztunnel).not.toBeNull();
    expect(sink.records[1]?.record.ztunnel).toBeNull();
    expect(sink.records[1]?.record.upstreamCluster).toBe('inbound-vip|80|http|httpbin.org');
  });

  it('is one parser in the registry, accepting only ztunnel lines', () => {
    const p = new ZtunnelParser();
    expect(p.accepts(line('EKS_MTLS_OUT'))).toBe(true);
    expect(p.accepts(line('ISSUE_58786_DIRECT'))).toBe(true);
    expect(p.accepts(line('WAYPOINT_EGRESS_HTTPBIN'))).toBe(false);
    expect(p.accepts(line('DNS_DEBUG'))).toBe(false);
    const r = newAccessRecord();
    expect(p.parse(line('ISTIO_DEBUG_LB'), r).kind).toBe('access');
    expect(r.ztunnel?.dstWorkload).toBe('reviews-v3-7d99fd7978-zznnq');
  });
});
