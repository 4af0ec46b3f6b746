import { describe, expect, it } from 'vitest';
import { newEgressEvent } from '../../src/identity/event.js';
import type { EgressEvent } from '../../src/identity/types.js';
import {
  decodeEvent,
  decodeEventRecord,
  encodeEvent,
  encodeEventRecord,
  fillEvent,
} from '../../src/scale/event-codec.js';

function gatewayLeg(): EgressEvent {
  return {
    time: 1_741_000_000_123,
    reporter: 'egress-gateway',
    protocol: 'tls',
    path: 'gateway-to-external',
    cluster: 'outbound|443||api.stripe.com',
    bytesUp: 1234,
    bytesDown: 98_765,
    durationMs: 42,
    responseCode: 0,
    responseFlags: null,
    requestId: null,
    method: null,
    httpPath: null,
    source: {
      principal: 'spiffe://cluster.local/ns/shop/sa/payments',
      principalSource: 'logged',
      namespace: 'shop',
      workload: 'payments',
      pod: null,
      ip: '10.0.3.7',
      attribution: 'principal',
      key: 'shop/payments',
    },
    destination: {
      host: 'api.stripe.com',
      registeredDomain: 'stripe.com',
      ip: '54.187.216.72',
      port: 443,
      external: true,
      nameUnverified: false,
    },
    origin: 'kafka:istio-access-logs/2/99812',
    upstreamLocalAddress: '10.0.9.4:51234',
    downstreamRemoteAddress: '10.0.3.7:40122',
    sni: 'api.stripe.com',
    join: null,
    ambient: null,
    claim: null,
    extra: null,
  };
}

describe('event codec', () => {
  it('round-trips every field of an event', () => {
    const event = gatewayLeg();
    expect(decodeEvent(encodeEvent(event), newEgressEvent())).toEqual(event);
    const http: EgressEvent = {
      ...event,
      reporter: 'sidecar',
      protocol: 'http',
      path: 'passthrough',
      method: 'POST',
      httpPath: '/v1/upload?x="y"',
      requestId: 'a1b2',
      responseCode: 503,
      responseFlags: 'UF,URX',
      source: {
        ...event.source,
        attribution: 'pod-ip',
        principal: null,
        principalSource: null,
        key: 'unknown/10.0.3.7',
      },
      destination: {
        host: null,
        registeredDomain: null,
        ip: '1.2.3.4',
        port: 8080,
        external: false,
        nameUnverified: false,
      },
    };
    expect(decodeEvent(encodeEvent(http), newEgressEvent())).toEqual(http);
  });

  it('round-trips a name claim, with and without an ambient proxy, and clears it for the event after', () => {
    const claim = {
      kind: 'mesh-name-external-address' as const,
      sni: 'kubernetes.default.svc.cluster.local',
      authority: null,
    };
    const out = newEgressEvent();
    expect(decodeEvent(encodeEvent({ ...gatewayLeg(), claim }), out).claim).toEqual(claim);
    expect(out.ambient ?? null).toBeNull();
    const both = decodeEvent(encodeEvent({ ...gatewayLeg(), ambient: 'waypoint', claim }), out);
    expect([both.ambient, both.claim]).toEqual(['waypoint', claim]);
    expect(decodeEvent(encodeEvent(gatewayLeg()), out).claim).toBeNull();
    const unverified = gatewayLeg();
    unverified.destination.nameUnverified = true;
    const back = decodeEvent(encodeEvent(unverified), out);
    expect([back.claim, back.destination.nameUnverified]).toEqual([null, true]);
    expect(decodeEvent(encodeEvent(gatewayLeg()), out).destination.nameUnverified).toBe(false);
  });

  it('round-trips the ambient proxy (ztunnel, waypoint) and clears it for the sidecar event after', () => {
    const out = newEgressEvent();
    const ztunnel: EgressEvent = {
      ...gatewayLeg(),
      reporter: 'sidecar',
      path: 'passthrough',
      ambient: 'ztunnel',
    };
    const waypoint: EgressEvent = { ...gatewayLeg(), ambient: 'waypoint' };
    expect(decodeEvent(encodeEvent(ztunnel), out)).toEqual(ztunnel);
    expect(decodeEvent(encodeEvent(waypoint), out).ambient).toBe('waypoint');
    expect(decodeEvent(encodeEvent(gatewayLeg()), out).ambient).toBeNull();
    expect(JSON.parse(encodeEvent(gatewayLeg()))).toHaveLength(30);
  });

  it('still reads a version 2 row (written before the addresses were carried), without them', () => {
    const v3 = JSON.parse(encodeEvent(gatewayLeg())) as unknown[];
    const v2 = [2, ...v3.slice(1, 27)];
    const e = fillEvent(v2, newEgressEvent());
    expect(e.source.key).toBe('shop/payments');
    expect([e.upstreamLocalAddress, e.downstreamRemoteAddress, e.sni]).toEqual([null, null, null]);
    expect(fillEvent([...v2, 1], newEgressEvent()).ambient).toBe('waypoint');
  });

  it('fills the object it is given, so a consumer can reuse one event', () => {
    const out = newEgressEvent();
    const a = decodeEvent(encodeEvent(gatewayLeg()), out);
    expect(a).toBe(out);
    expect(a.source.key).toBe('shop/payments');
  });

  it('is smaller than the keyed JSON form', () => {
    const event = gatewayLeg();
    expect(encodeEvent(event).length).toBeLessThan(JSON.stringify(event).length * 0.75);
  });

  it('names what is wrong with a value it cannot read', () => {
    expect(() => decodeEvent('{"time":1}', newEgressEvent())).toThrow(/not a version 3 \(or 2\) event/);
    const bad = JSON.parse(encodeEvent(gatewayLeg())) as unknown[];
    bad[4] = 99;
    expect(() => decodeEvent(JSON.stringify(bad), newEgressEvent())).toThrow('unknown path code 99');
    expect(() => decodeEvent('[1,', newEgressEvent())).toThrow(SyntaxError);
  });
});

describe('event records', () => {
  it('carries several events in one record, and still reads a record of one event', () => {
    const a = gatewayLeg();
    const b: EgressEvent = { ...gatewayLeg(), time: a.time + 1, source: { ...a.source, key: 'shop/cart' } };
    const rows = decodeEventRecord(encodeEventRecord([encodeEvent(a), encodeEvent(b)]));
    expect(rows).toHaveLength(2);
    expect(fillEvent(rows[0], newEgressEvent())).toEqual(a);
    expect(fillEvent(rows[1], newEgressEvent())).toEqual(b);
    const single = decodeEventRecord(encodeEvent(a));
    expect(single).toHaveLength(1);
    expect(fillEvent(single[0], newEgressEvent())).toEqual(a);
  });

  it('names what is wrong with a record or one of its rows', () => {
    expect(() => decodeEventRecord('{"not":"a record"}')).toThrow(/not an event record/);
    const rows = decodeEventRecord(`[${encodeEvent(gatewayLeg())},[1,2,3]]`);
    expect(() => fillEvent(rows[1], newEgressEvent())).toThrow(/not a version 3 \(or 2\) event/);
  });
});
