/**
 * EgressEvent's fields are written once (identity/event.ts): `newEgressEvent` fails to compile
 * without one of them, and so does FULL below; these tests fail when the pooled copy or the
 * by-source topic's codec loses a field (a field added to the type and to the template, not to them).
 */
import { describe, expect, it } from 'vitest';
import {
  type CompleteEgressEvent,
  cloneEgressEvent,
  copyEgressEvent,
  newEgressEvent,
} from '../../src/identity/event.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { decodeEvent, encodeEvent } from '../../src/scale/event-codec.js';

/** Every field set, each to a value other than the blank event's. */
const FULL: CompleteEgressEvent = {
  time: 1_741_000_000_123,
  reporter: 'egress-gateway',
  protocol: 'http',
  path: 'gateway-to-external',
  cluster: 'outbound|443||api.stripe.com',
  bytesUp: 1234,
  bytesDown: 98_765,
  durationMs: 42,
  responseCode: 503,
  responseFlags: 'UF',
  requestId: '5f1c2d9e-3b7a-4c11-9a0e-7d2f6b8c1e44',
  method: 'POST',
  httpPath: '/v1/charges',
  source: {
    principal: 'spiffe://cluster.local/ns/shop/sa/payments',
    principalSource: 'learned',
    namespace: 'shop',
    workload: 'payments',
    pod: 'payments-7d9f-x2',
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
    nameUnverified: true,
  },
  origin: 'kafka:istio-access-logs/2/99812',
  upstreamLocalAddress: '10.0.9.4:51234',
  downstreamRemoteAddress: '10.0.3.7:40122',
  sni: 'api.stripe.com',
  join: {
    by: 'address',
    otherOrigin: 'a.log:1',
    skewMs: 3,
    gatewaySni: 'api.stripe.com',
    senderInInput: true,
  },
  ambient: 'waypoint',
  claim: { kind: 'sni-authority-mismatch', sni: 'api.stripe.com', authority: 'evil.example' },
  extra: ' traceID=abc',
};

/**
 * Fields the by-source topic does not carry, and why: stage 2 joins the legs again, and the trailing
 * text is shown only by the events sink.
 */
const NOT_ON_TOPIC: Partial<Record<keyof EgressEvent, string>> = {
  join: 'set by detection (stage 2 joins the legs itself)',
  extra: 'trailing fields as written: only the events sink shows them',
};

/** `[path, value]` of every field, nested ones as `source.key`. */
function leaves(e: EgressEvent): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(e)) {
    if (k === 'source' || k === 'destination')
      for (const [n, w] of Object.entries(v as object)) out.push([`${k}.${n}`, w]);
    else out.push([k, v]);
  }
  return out;
}

function full(): EgressEvent {
  return structuredClone(FULL);
}

describe('EgressEvent fields written once', () => {
  it('FULL sets every field of the blank event, each to a value of its own', () => {
    const blank = new Map(leaves(newEgressEvent()));
    const set = leaves(full());
    expect(set.map(([k]) => k).sort()).toEqual([...blank.keys()].sort());
    expect(set.filter(([k, v]) => blank.get(k) === v).map(([k]) => k)).toEqual([]);
  });

  it('the pooled copy carries every field (the join starts again: detection sets it)', () => {
    expect(copyEgressEvent(newEgressEvent(), full())).toStrictEqual({ ...full(), join: null });
  });

  it('refilling a used event leaves nothing of the event before', () => {
    const used = copyEgressEvent(newEgressEvent(), full());
    used.join = FULL.join;
    expect(copyEgressEvent(used, newEgressEvent())).toStrictEqual(newEgressEvent());
  });

  it('a clone has the blank event’s key order (JSON output of events keeps its field order)', () => {
    const keys = (e: EgressEvent) => leaves(e).map(([k]) => k);
    expect(keys(cloneEgressEvent(full()))).toEqual(keys(newEgressEvent()));
    const clone = cloneEgressEvent(full());
    expect(clone.source).not.toBe(FULL.source);
    expect(clone.destination).not.toBe(FULL.destination);
  });

  it('the by-source topic carries every field but the ones listed, and refills every one it carries', () => {
    const decoded = decodeEvent(encodeEvent(full()), newEgressEvent());
    const blank = new Map(leaves(newEgressEvent()));
    const lost = leaves(full())
      .filter(([k, v]) => JSON.stringify(new Map(leaves(decoded)).get(k)) !== JSON.stringify(v))
      .map(([k]) => k);
    expect(lost).toEqual(Object.keys(NOT_ON_TOPIC));
    // Decoding a blank event into a used one: every carried field is the blank's again.
    const used = decodeEvent(encodeEvent(full()), newEgressEvent());
    const refilled = new Map(leaves(decodeEvent(encodeEvent(newEgressEvent()), used)));
    const stale = [...blank]
      .filter(([k, v]) => !(k in NOT_ON_TOPIC) && JSON.stringify(refilled.get(k)) !== JSON.stringify(v))
      .map(([k]) => k);
    expect(stale).toEqual([]);
  });
});
