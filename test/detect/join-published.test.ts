/**
 * The connection join on lines people published (test/fixtures/connection-pairs.txt, sources in its
 * README): each pair is one connection's sidecar leg and gateway leg, read through the real decoder
 * and normaliser, as bare lines (no shipper metadata) the way `kubectl logs` prints them.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { ConnectionJoiner } from '../../src/detect/join.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { fixture } from '../fixtures/load.js';
import { decodeLines, stagesDefaultOnlyIbm } from '../helpers/envoy-close-order.js';

const FILE = '../fixtures/connection-pairs.txt';

const events = (lines: string[]): EgressEvent[] => decodeLines(lines);

function joined(id: string): EgressEvent[] {
  const out: EgressEvent[] = [];
  const j = new ConnectionJoiner({ toleranceMs: 10_000 }, (e) => out.push(e));
  for (const e of events([fixture(FILE, `${id}S`), fixture(FILE, `${id}G`)])) j.push(e);
  j.flush();
  return out;
}

describe('the connection join on published sidecar/gateway line pairs', () => {
  it.each([
    ['TCP1', 'address', 'my.server.com', '192.168.0.78', 1234],
    ['HTTP1', 'request-id', 'developers.google.com', '173.194.217.101', 443],
    ['HTTP2', 'request-id', 'developer.yahoo.com', '69.147.92.11', 443],
    ['TLS1', 'address', 'api.ipify.org', '54.235.83.248', 443],
  ] as const)('%s: joined by %s, the sidecar leg reaching %s at the gateway upstream', (id, by, host, ip, port) => {
    const [sidecar, gateway] = joined(id);
    expect(sidecar?.path).toBe('sidecar-to-gateway');
    expect(gateway?.path).toBe('gateway-to-external');
    expect(gateway?.reporter).toBe('egress-gateway');
    expect(sidecar?.join?.by).toBe(by);
    expect(gateway?.join?.otherOrigin).toBe(sidecar?.origin);
    expect(sidecar?.destination).toMatchObject({ host, ip, port, external: true });
  });

  it('joins the plain-TCP pair only by its addresses: the sidecar line names no host at all', () => {
    const [s, g] = events([fixture(FILE, 'TCP1S'), fixture(FILE, 'TCP1G')]);
    expect(s?.destination.host).toBeNull();
    expect(s?.sni).toBeNull();
    expect(g?.destination.host).toBe('my.server.com');
    expect(s?.upstreamLocalAddress).toBe(g?.downstreamRemoteAddress);
  });

  it('takes the SNI the gateway logged for TLS originated at the gateway (connection.sni)', () => {
    const [sidecar] = joined('HTTP1');
    expect(sidecar?.protocol).toBe('http');
    expect(sidecar?.join?.gatewaySni).toBe('developers.google.com');
  });

  it("reports a workload's forbidden plain-TCP connection naming the host, judged once", () => {
    // The published pair, with the shipper metadata a DaemonSet adds (the sleep pod of namespace
    // default); a pipeline policy lets default reach only *.ibm.com.
    const meta = (line: string, pod: string, ns: string, ip: string, labels: Record<string, string>) =>
      JSON.stringify({
        time: '2022-02-19T09:31:18.000Z',
        log: line,
        kubernetes: { pod_name: pod, namespace_name: ns, pod_ip: ip, labels, container_name: 'istio-proxy' },
      });
    const lines = [
      meta(fixture(FILE, 'TCP1S'), 'sleep-7c7db887d8-9dnd7', 'default', '10.108.0.56', { app: 'sleep' }),
      meta(fixture(FILE, 'TCP1G'), 'istio-egressgateway-5f4c-x2x', 'istio-system', '10.108.0.55', {
        istio: 'egressgateway',
      }),
    ];
    const processor = stagesDefaultOnlyIbm();
    processor.processLines(lines, 'pairs', (i) => String(i + 1));
    processor.finish();
    const alerts: Alert[] = processor.takeAlerts();
    const forbidden = alerts.filter((a) => a.rule.id === 'forbidden-destination');
    expect(forbidden.map((a) => [a.source.workload, a.destination.domain, a.destination.port])).toEqual([
      ['sleep', 'my.server.com', 1234],
    ]);
    expect((forbidden[0]?.evidence.join as { by: string }).by).toBe('address');
  });
});

/**
 * A gateway forwarding by SNI through an Envoy internal listener (istio.io blog 2023/egress-sni,
 * test/fixtures/published-lines.txt SNI1-SNI7): one connection is three lines, the sidecar's leg
 * (S), the gateway's outer leg from the sidecar into `envoy://sni_listener/` (O) and its inner leg out
 * (I). Two connections were published (en.wikipedia.org: SNI3, SNI2, SNI1; de.wikipedia.org: SNI7,
 * SNI6, SNI5), both to the same upstream IP within 200 ms.
 */
describe('the connection join through a gateway that forwards by SNI through an internal listener', () => {
  const PUB = '../fixtures/published-lines.txt';
  const EN = { S: 'SNI3', O: 'SNI2', I: 'SNI1' } as const;
  const DE = { S: 'SNI7', O: 'SNI6', I: 'SNI5' } as const;

  function run(ids: readonly string[], toleranceMs = 10_000): { out: EgressEvent[]; j: ConnectionJoiner } {
    const evs = events(ids.map((id) => fixture(PUB, id)));
    evs.forEach((e, i) => {
      e.origin = ids[i] as string;
    });
    const out: EgressEvent[] = [];
    const j = new ConnectionJoiner({ toleranceMs }, (e) => out.push(e));
    for (const e of evs) j.push(e);
    j.flush();
    return { out, j };
  }
  const byOrigin = (out: EgressEvent[], id: string) => out.find((e) => e.origin === id) as EgressEvent;

  it('joins each sidecar leg to its own inner leg through its outer leg, as published (gateway lines inner first)', () => {
    // Time order across the two files; within the gateway's log, each inner leg before its outer leg.
    const { out, j } = run([EN.S, EN.I, EN.O, DE.S, DE.I, DE.O]);
    for (const c of [EN, DE]) {
      const s = byOrigin(out, c.S);
      const i = byOrigin(out, c.I);
      expect(s.join).toMatchObject({ by: 'internal-listener', otherOrigin: c.I, outerOrigin: c.O });
      expect(i.join).toMatchObject({ by: 'internal-listener', otherOrigin: c.S, outerOrigin: c.O });
      // The sidecar leg reaches what the gateway dialled; the inner leg takes the caller's address.
      expect(s.destination).toMatchObject({ host: i.sni, ip: '185.15.59.224', port: 443 });
      expect(i.source.ip).toBe('172.17.34.35');
    }
    expect(byOrigin(out, DE.S).destination.host).toBe('de.wikipedia.org');
    expect(j.counters.joined['internal-listener']).toBe(2);
    expect(j.counters.unjoinedGatewayLegs + j.counters.unjoinedSidecarLegs).toBe(0);
    // Released in time order; the outer legs are consumed by the join (detectors judge the other two).
    expect(out.map((e) => e.origin)).toEqual([EN.S, EN.I, DE.S, DE.I]);
  });

  it.each([
    [[EN.S, EN.O, EN.I]],
    [[EN.S, EN.I, EN.O]],
    [[EN.O, EN.S, EN.I]],
    [[EN.O, EN.I, EN.S]],
    [[EN.I, EN.S, EN.O]],
    [[EN.I, EN.O, EN.S]],
  ])('joins the three lines of one connection in any arrival order: %j', (ids) => {
    const { out } = run(ids);
    expect(byOrigin(out, EN.S).join).toMatchObject({ by: 'internal-listener', outerOrigin: EN.O });
  });

  it('pairs outer and inner legs by their common start and duration, and the bytes the sidecar sent', () => {
    // Both connections' gateway lines interleaved, outer legs first: the de outer leg (13:21:53.000,
    // 50 ms) must take the de inner leg (53.000, 49 ms, the de sidecar's 821/92848 bytes), not en's.
    const { out } = run([EN.S, DE.S, EN.O, DE.O, EN.I, DE.I], 10_000);
    expect(byOrigin(out, DE.S).join?.otherOrigin).toBe(DE.I);
    expect(byOrigin(out, EN.S).join?.otherOrigin).toBe(EN.I);
  });

  it('without the outer leg, joins by destination host as the last resort, and says so', () => {
    const { out } = run([EN.S, EN.I]);
    expect(byOrigin(out, EN.S).join).toMatchObject({ by: 'source-and-destination', otherOrigin: EN.I });
    expect(byOrigin(out, EN.S).join?.outerOrigin).toBeUndefined();
  });

  it('an outer and inner leg with no sidecar leg name their caller, whose sidecar is being read', () => {
    // SNI4 is the same sleep sidecar's line (PassthroughCluster, 2.4 s later): its lines are being
    // read, yet it logged no leg for this connection (the gateway-silence detector's unaccounted leg).
    const { out, j } = run([EN.I, EN.O, 'SNI4']);
    const inner = byOrigin(out, EN.I);
    expect(inner.join).toMatchObject({ by: 'none', senderInInput: true, outerOrigin: EN.O });
    expect(inner.source.ip).toBe('172.17.34.35');
    expect(j.counters.unjoinedGatewayLegs).toBe(1);
    // Without an outer leg the inner leg names no caller, and no sidecar can be said to be missing.
    const alone = byOrigin(run([EN.I, 'SNI4']).out, EN.I);
    expect(alone.join).toMatchObject({ by: 'none', senderInInput: false });
    expect(alone.source.ip).toBeNull();
  });

  it('the sidecar leg joined to an outer leg whose inner leg never came is joined by address, naming no gateway destination', () => {
    const { out } = run([EN.S, EN.O]);
    expect(byOrigin(out, EN.S).join).toMatchObject({ by: 'address', otherOrigin: EN.O, gatewaySni: null });
    expect(byOrigin(out, EN.S).destination.host).toBe('en.wikipedia.org'); // its own SNI
  });
});
