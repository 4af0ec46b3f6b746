/**
 * The connection join on lines people published (test/fixtures/connection-pairs.txt, sources in its
 * README): each pair is one connection's sidecar leg and gateway leg, read through the real decoder
 * and normaliser, as bare lines (no shipper metadata) the way `kubectl logs` prints them.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { ConnectionJoiner } from '../../src/detect/join.js';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { copyEvent, Normalizer } from '../../src/identity/normalizer.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { fixture } from '../fixtures/load.js';
import { Stages } from '../helpers/stages.js';

const FILE = '../fixtures/connection-pairs.txt';

function events(lines: string[]): EgressEvent[] {
  const normalizer = new Normalizer(MeshConfigSchema.parse({}));
  const decoder = new LineDecoder();
  const out: EgressEvent[] = [];
  lines.forEach((line, i) => {
    decoder.decode(line, {
      access: (r, m) =>
        out.push(copyEvent(normalizer.normalize(r, m, { source: 'pairs', position: String(i + 1) }))),
      skipped: (reason) => {
        throw new Error(`line ${i + 1} skipped: ${reason}`);
      },
      malformed: (reason) => {
        throw new Error(`line ${i + 1} malformed: ${reason}`);
      },
    });
  });
  return out;
}

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
    const processor = new Stages({
      detection: DetectionConfigSchema.parse({}),
      decoder: { format: 'auto' },
      mesh: MeshConfigSchema.parse({}),
      policies: new PolicySet(
        parsePolicyText(
          'kind: EgressPolicy\npolicies:\n  - name: default-egress\n    source: { namespace: default }\n    allow: ["*.ibm.com"]\n',
          'policy.yaml',
        ),
      ),
    });
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
