import { describe, expect, it } from 'vitest';
import { ConnectionJoiner } from '../../src/detect/join.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { destination, egressEvent, source, T0 } from '../helpers/events.js';

const APP_B = source('app-b', 'app-b', { ip: '10.244.1.7' });
const MONGO_IP = '104.94.55.233';

/** App B's sidecar leg of a plain-TCP connection to the database: it knows only the IP it dialled. */
function sidecarTcp(time: number, port: number, extra: Partial<EgressEvent> = {}): EgressEvent {
  return egressEvent({
    time,
    protocol: 'tcp',
    source: { ...APP_B },
    destination: destination(MONGO_IP, { host: null, registeredDomain: null, ip: MONGO_IP, port: 27017 }),
    upstreamLocalAddress: `10.244.1.7:${port}`,
    downstreamRemoteAddress: '10.244.1.7:51000',
    sni: null,
    ...extra,
  });
}

/** The gateway's leg: the host in its cluster, the caller's address as its downstream remote address. */
function gatewayTcp(time: number, port: number, extra: Partial<EgressEvent> = {}): EgressEvent {
  return egressEvent({
    time,
    protocol: 'tls',
    reporter: 'egress-gateway',
    path: 'gateway-to-external',
    cluster: 'outbound|27017||mongo1.composedb.com',
    source: {
      principal: 'spiffe://cluster.local/ns/app-b/sa/app-b',
      principalSource: 'logged',
      namespace: 'app-b',
      workload: null,
      pod: null,
      ip: '10.244.1.7',
      attribution: 'principal',
      key: 'spiffe://cluster.local/ns/app-b/sa/app-b',
    },
    destination: destination('mongo1.composedb.com', { ip: MONGO_IP, port: 27017 }),
    upstreamLocalAddress: '10.244.0.9:40000',
    downstreamRemoteAddress: `10.244.1.7:${port}`,
    sni: 'mongo1.composedb.com',
    ...extra,
  });
}

function joiner(toleranceMs = 10_000) {
  const out: EgressEvent[] = [];
  const j = new ConnectionJoiner({ toleranceMs }, (e) => out.push(e));
  return { j, out };
}

describe('ConnectionJoiner', () => {
  it("joins plain TCP by the connection's address: the sidecar's leg gets the host, the gateway's the workload", () => {
    const { j, out } = joiner();
    // Another pod's line first: app B's sidecar is in the input.
    j.push(egressEvent({ time: T0 - 1000, path: 'internal', source: { ...APP_B } }));
    j.push(sidecarTcp(T0, 43_210));
    j.push(gatewayTcp(T0 + 3, 43_210));
    j.flush();
    const [, s, g] = out as [EgressEvent, EgressEvent, EgressEvent];
    expect(s.join).toMatchObject({ by: 'address', skewMs: 3, gatewaySni: 'mongo1.composedb.com' });
    expect(s.destination).toMatchObject({ host: 'mongo1.composedb.com', ip: MONGO_IP, port: 27017 });
    expect(s.source).toMatchObject({
      key: 'app-b/app-b',
      principal: 'spiffe://cluster.local/ns/app-b/sa/app-b',
    });
    expect(g.join?.by).toBe('address');
    expect(g.source.key).toBe('app-b/app-b');
    expect(j.counters.joined.address).toBe(1);
  });

  it('holds nothing back when the pair joins at once, and waits at most the tolerance for a missing leg', () => {
    const { j, out } = joiner(10_000);
    j.push(sidecarTcp(T0, 1));
    j.push(gatewayTcp(T0 + 2, 1));
    expect(out).toHaveLength(2);
    // A sidecar leg whose gateway leg never comes holds the events behind it ...
    j.push(sidecarTcp(T0 + 1000, 2));
    j.push(egressEvent({ time: T0 + 5000, path: 'direct-external' }));
    expect(out).toHaveLength(2);
    j.advance(T0 + 9000);
    expect(out).toHaveLength(2);
    // ... until event time is past its start plus the tolerance: then it goes on, unjoined, in order.
    j.advance(T0 + 11_000);
    expect(out.map((e) => e.time)).toEqual([T0, T0 + 2, T0 + 1000, T0 + 5000]);
    expect(out[2]?.join?.by).toBe('none');
  });

  it('pairs pooled HTTP legs (one connection, many requests) by request id, then names the join', () => {
    const { j, out } = joiner();
    const http = (time: number, id: string, gateway: boolean): EgressEvent => {
      const base = gateway ? gatewayTcp(time, 40_001) : sidecarTcp(time, 40_001);
      return { ...base, protocol: 'http', method: 'GET', requestId: id };
    };
    j.push(http(T0, 'r1', false));
    j.push(http(T0 + 1, 'r2', false));
    j.push(http(T0 + 2, 'r2', true));
    j.push(http(T0 + 3, 'r1', true));
    j.flush();
    const byId = (id: string, reporter: string) =>
      out.find((e) => e.requestId === id && e.reporter === reporter)?.join;
    expect(byId('r1', 'sidecar')?.otherOrigin).toBe(out.find((e) => e.time === T0 + 3)?.origin);
    expect(byId('r2', 'sidecar')?.by).toBe('request-id');
    expect(j.counters.joined['request-id']).toBe(2);
  });

  it('never pairs two legs by the heuristic when both log their addresses and they differ', () => {
    const { j, out } = joiner();
    // Same caller, same host, same time: but the gateway's leg came from another connection.
    const s = sidecarTcp(T0, 1111, { destination: destination('mongo1.composedb.com', { port: 27017 }) });
    j.push(s);
    j.push(gatewayTcp(T0 + 2, 2222));
    j.flush();
    expect(out.map((e) => e.join?.by)).toEqual(['none', 'none']);
  });

  it('falls back to caller + destination when a line does not log its addresses, and says so', () => {
    const { j, out } = joiner();
    j.push(
      sidecarTcp(T0, 1, {
        upstreamLocalAddress: null,
        destination: destination('mongo1.composedb.com', { port: 27017 }),
      }),
    );
    j.push(gatewayTcp(T0 + 2, 9, { downstreamRemoteAddress: null }));
    j.flush();
    expect(out.map((e) => e.join?.by)).toEqual(['source-and-destination', 'source-and-destination']);
    // Plain TCP without addresses: the dialled IP is the destination the two legs share.
    const ipOnly = joiner();
    ipOnly.j.push(sidecarTcp(T0, 1, { upstreamLocalAddress: null }));
    ipOnly.j.push(gatewayTcp(T0 + 2, 9, { downstreamRemoteAddress: null }));
    ipOnly.j.flush();
    expect(ipOnly.out[0]?.destination.host).toBe('mongo1.composedb.com');
  });

  it('joins a leg without addresses to legs that logged theirs and were already waiting (the first such leg)', () => {
    // The heuristic's keys are filed only once a leg needs them: the waiting legs are filed then.
    const { j, out } = joiner();
    j.push(sidecarTcp(T0, 1, { bytesUp: 100 }));
    j.push(sidecarTcp(T0 + 1, 2, { bytesUp: 500 }));
    j.push(gatewayTcp(T0 + 3, 9, { downstreamRemoteAddress: null, bytesUp: 480 }));
    j.push(gatewayTcp(T0 + 4, 8, { downstreamRemoteAddress: null, bytesUp: 90 }));
    j.flush();
    // Closest in bytes: the 500-byte sidecar leg with the 480-byte gateway leg, the 100 with the 90.
    expect(out.map((e) => [e.reporter, e.bytesUp, e.join?.by, e.join?.skewMs])).toEqual([
      ['sidecar', 100, 'source-and-destination', 4],
      ['sidecar', 500, 'source-and-destination', 2],
      ['egress-gateway', 480, 'source-and-destination', -2],
      ['egress-gateway', 90, 'source-and-destination', -4],
    ]);
  });

  it("tells whether an unjoined gateway leg's sender is in the input", () => {
    const { j, out } = joiner();
    j.push(egressEvent({ time: T0, path: 'internal', source: { ...APP_B } }));
    j.push(gatewayTcp(T0 + 1000, 5));
    j.push(gatewayTcp(T0 + 2000, 6, { downstreamRemoteAddress: '10.244.9.77:6' }));
    j.flush();
    expect(out[1]?.join).toMatchObject({ by: 'none', senderInInput: true });
    expect(out[2]?.join).toMatchObject({ by: 'none', senderInInput: false });
  });

  it('names the host of an unjoined plain-TCP sidecar leg from earlier gateway legs to its IP, unless ambiguous', () => {
    const { j, out } = joiner();
    j.push(sidecarTcp(T0, 1));
    j.push(gatewayTcp(T0 + 2, 1));
    // The gateway's logs are lost from here on.
    j.push(sidecarTcp(T0 + 60_000, 2));
    j.flush();
    expect(out[2]?.destination.host).toBe('mongo1.composedb.com');
    expect(out[2]?.join).toMatchObject({ by: 'none', hostFromEarlierLegs: true });
    // A shared front end: two hosts at one IP, so an IP-only leg stays an IP.
    const shared = joiner();
    shared.j.push(gatewayTcp(T0, 7));
    shared.j.push(gatewayTcp(T0 + 1, 8, { destination: destination('other.example', { ip: MONGO_IP }) }));
    shared.j.push(sidecarTcp(T0 + 60_000, 3));
    shared.j.flush();
    expect(shared.out[2]?.destination.host).toBeNull();
  });
});
