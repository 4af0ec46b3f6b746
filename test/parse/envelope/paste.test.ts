import { describe, expect, it } from 'vitest';
import { LineDecoder } from '../../../src/parse/decoder.js';
import { loadFixtures } from '../../fixtures/load.js';
import { CollectingSink } from '../collecting-sink.js';

const paste = loadFixtures('paste-lines.txt');
const real = loadFixtures('reference-lines.txt');
const line = (m: ReturnType<typeof loadFixtures>, id: string): string => m.get(id)?.line ?? '';

function decode(raw: string): CollectingSink {
  const sink = new CollectingSink();
  // The tests' lines are years old: no wall-clock check on them.
  new LineDecoder({ guard: { maxClockSkewMs: Number.MAX_SAFE_INTEGER } }).decode(raw, sink);
  return sink;
}

describe('what users paste around access lines', () => {
  it.each([
    ['STERN_GW', 'istio-egressgateway-64b4bcc48f-4zdjp', 'istio-egressgateway', 'api.ipify.org'],
    ['STERN_WAYPOINT', 'waypoint-dd5c9497f-59smm', 'waypoint', null],
    ['STERN_TCP', 'manager-7948dffbdd-p44xx', 'manager', null],
  ])('%s: reads a stern line, the pod and container becoming metadata', (id, pod, workload, sni) => {
    const s = decode(line(paste, id));
    expect(s.skips).toEqual([]);
    expect(s.bad).toEqual([]);
    expect(s.records).toHaveLength(1);
    expect(s.records[0]?.meta).toMatchObject({ pod, container: 'istio-proxy', workload, namespace: null });
    expect(s.records[0]?.record.requestedServerName).toBe(sni);
  });

  it('reads stern with several namespaces (namespace first) and with terminal colours', () => {
    const colored = `istio-system \x1b[31mistio-egressgateway-64b4bcc48f-4zdjp\x1b[0m \x1b[32mistio-proxy\x1b[0m ${line(paste, 'STERN_GW').split(' istio-proxy ')[1]}`;
    const s = decode(colored);
    expect(s.records).toHaveLength(1);
    expect(s.records[0]?.meta).toMatchObject({
      namespace: 'istio-system',
      pod: 'istio-egressgateway-64b4bcc48f-4zdjp',
    });
  });

  it('reads `kubectl logs --prefix --timestamps`: pod, container and time as metadata', () => {
    const raw = `[pod/sleep-5c6bd9b8d4-q8wz7/istio-proxy] 2023-11-01T10:25:47.107123456Z ${line(real, 'L13')}`;
    const s = decode(raw);
    expect(s.bad).toEqual([]);
    expect(s.records).toHaveLength(1);
    expect(s.records[0]?.meta).toMatchObject({
      pod: 'sleep-5c6bd9b8d4-q8wz7',
      container: 'istio-proxy',
      workload: 'sleep',
      shippedAt: Date.parse('2023-11-01T10:25:47.107Z'),
    });
    expect(s.records[0]?.record.authority).toBe('httpbin.org');
  });

  it('reads `kubectl logs --timestamps` alone, and leaves pilot-agent lines with a time skipped', () => {
    const s = decode(`2023-11-01T10:10:20.538000000Z ${line(real, 'L12')}`);
    expect(s.records).toHaveLength(1);
    expect(s.records[0]?.record.upstreamCluster).toBe('PassthroughCluster');
    expect(decode(`2023-11-01T10:02:06.861650Z ${line(real, 'L10')}`).skips).toEqual([
      'proxy log (pilot-agent/Envoy)',
    ]);
  });

  it('LOKI_TRACE: a line missing only its time is dead-lettered with that reason and its bytes', () => {
    const raw = line(paste, 'LOKI_TRACE');
    const s = decode(raw);
    expect(s.records).toEqual([]);
    expect(s.skips).toEqual([]);
    expect(s.bad).toHaveLength(1);
    expect(s.bad[0]?.reason).toMatch(/without its \[%START_TIME%\]/);
    expect(s.bad[0]?.raw).toBe(raw);
  });

  it('LOKI_TRACE with `kubectl logs --timestamps`: read, the time from kubectl, the trailing fields kept', () => {
    const s = decode(`2024-05-02T08:00:00.000000000Z ${line(paste, 'LOKI_TRACE')}`);
    expect(s.bad).toEqual([]);
    expect(s.records).toHaveLength(1);
    const r = s.records[0];
    expect(Number.isNaN(r?.record.startTime)).toBe(true);
    expect(r?.meta.shippedAt).toBe(Date.parse('2024-05-02T08:00:00Z'));
    expect(r?.record).toMatchObject({
      responseCode: 403,
      upstreamCluster: 'inbound|8008||',
      routeName: 'default',
      trailing: 'traceID=7654f5f829bed4690de1f31281c4854b traceSampled=1',
    });
  });

  it('still skips lines that only look like a prefix', () => {
    expect(decode('hello world [not an access line]').skips).toEqual([
      'not an access line (neither TEXT nor JSON)',
    ]);
    expect(decode('"quoted" prose').skips).toEqual(['not an access line (neither TEXT nor JSON)']);
  });
});
