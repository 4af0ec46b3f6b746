/**
 * The detectors on ambient legs, end to end from lines (decode, normalise, detect): ztunnel legs to
 * the egress waypoint pair with the waypoint's legs out by caller IP and host (no request id at L4),
 * a waypoint leg without a principal is not suspicious by itself, a silent waypoint is, and so is a
 * waypoint leg from an address no ztunnel record accounts for. Ambient bypass is gateway-bypass.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alerts/types.js';
import { DetectionConfigSchema } from '../../../src/detect/config.js';
import { MeshConfigSchema } from '../../../src/identity/config.js';
import { PolicySet } from '../../../src/policy/policy-set.js';
import { Stages } from '../../helpers/stages.js';

const T0 = Date.parse('2025-03-03T10:00:00Z');
const MIN = 60_000;
const WAYPOINT_IP = '10.42.0.16';

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The caller's ztunnel record of an HBONE connection to the egress waypoint (shape of EG_WAYPOINT_OUT). */
function ztunnelLeg(start: number, ip: string, pod: string, ns: string, host: string, port: number): string {
  const dur = 120;
  return `${iso(start + dur).replace('Z', '000Z')}\tinfo\taccess\tconnection complete\tsrc.addr=${ip}:${40000 + (start % 20000)} src.workload="${pod}" src.namespace="${ns}" src.identity="spiffe://cluster.local/ns/${ns}/sa/${ns}" dst.addr=${WAYPOINT_IP}:15008 dst.hbone_addr=240.240.0.4:${port} dst.service="${host}" dst.workload="waypoint-7c8f6b9d5-x2l4n" dst.namespace="istio-egress" dst.identity="spiffe://cluster.local/ns/istio-egress/sa/waypoint" direction="outbound" bytes_sent=1200 bytes_recv=5400 duration="${dur}ms"`;
}

/** The waypoint's leg out (shape of WAYPOINT_EGRESS_HTTPBIN): HTTP, with a request id. */
function waypointLeg(start: number, clientIp: string, host: string, port: number): string {
  const rid = `0000${start}`.slice(-12);
  return `[${iso(start + 2)}] "GET /v1/items HTTP/1.1" 200 - via_upstream - "-" 0 5400 118 118 "-" "app/1.0" "5257e961-a040-4d33-9ff8-${rid}" "${host}" "44.196.139.143:${port}" inbound-vip|${port}|http|${host} ${WAYPOINT_IP}:40144 240.240.0.4:${port} ${clientIp}:42172 - default`;
}

function run(lines: string[]): Alert[] {
  const p = new Stages({
    detection: DetectionConfigSchema.parse({}),
    decoder: { format: 'auto' },
    mesh: MeshConfigSchema.parse({}),
    policies: new PolicySet([]),
  });
  p.processLines(lines, 'test', (i) => String(i + 1));
  p.finish();
  expect(p.counters.malformed).toBe(0);
  return p.takeAlerts();
}

/** Two callers through the waypoint every 20 s for `minutes`; the waypoint logs while `logs(t)`. */
function traffic(minutes: number, logs: (t: number) => boolean): string[] {
  const lines: { t: number; line: string }[] = [];
  for (let t = T0; t < T0 + minutes * MIN; t += 20_000) {
    for (const [ip, pod, ns, host] of [
      ['10.42.0.13', 'app-a-6c9b8b8d4-2kq7z', 'app-a', 'api.ibm.com'],
      ['10.42.0.21', 'app-b-7d8f9c6b5-q8wzx', 'app-b', 'mongo1.composedb.com'],
    ] as const) {
      lines.push({ t: t + 120, line: ztunnelLeg(t, ip, pod, ns, host, 443) });
      if (logs(t)) lines.push({ t: t + 121, line: waypointLeg(t, ip, host, 443) });
    }
  }
  return lines.sort((a, b) => a.t - b.t).map((l) => l.line);
}

describe('ambient legs through the detectors', () => {
  it('pairs every ztunnel leg with its waypoint leg: no alert on healthy traffic', () => {
    expect(run(traffic(30, () => true)).map((a) => `${a.rule.id}: ${a.reason}`)).toEqual([]);
  });

  it("raises gateway-silence when the waypoint's logs stop while ztunnels keep tunnelling to it, and resolves it", () => {
    const silent = (t: number) => t < T0 + 10 * MIN || t >= T0 + 20 * MIN;
    const alerts = run(traffic(30, silent)).filter((a) => a.rule.id === 'gateway-silence');
    expect(alerts[0]?.alert.status).toBe('firing');
    expect(Date.parse(alerts[0]?.['@timestamp'] ?? '')).toBeLessThan(T0 + 13 * MIN);
    expect(alerts.at(-1)?.alert.status).toBe('resolved');
  });

  it('raises unaccounted-gateway-leg for a waypoint leg from an address no ztunnel record accounts for', () => {
    const lines = traffic(10, () => true);
    lines.push(waypointLeg(T0 + 5 * MIN, '10.244.9.77', 'mongo1.composedb.com', 443));
    const alerts = run(lines).filter((a) => a.rule.id === 'unaccounted-gateway-leg');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.reason).toMatch(/from 10\.244\.9\.77 to mongo1\.composedb\.com that no sidecar sent/);
  });

  it('raises gateway-bypass for a ztunnel connection straight to an internet address', () => {
    const lines = traffic(5, () => true);
    lines.push(
      `${iso(T0 + 3 * MIN)}\tinfo\taccess\tconnection complete\tsrc.addr=10.42.0.13:51000 src.workload="app-a-6c9b8b8d4-2kq7z" src.namespace="app-a" dst.addr=142.250.191.142:443 direction="outbound" bytes_sent=800 bytes_recv=8468 duration="73ms"`,
    );
    const alerts = run(lines).filter((a) => a.rule.id === 'gateway-bypass');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.source.namespace).toBe('app-a');
    expect(alerts[0]?.reason).toContain('via ztunnel with no ServiceEntry for it');
    expect(alerts[0]?.reason).toContain('bypassing the egress waypoint');
  });
});
