/**
 * Stage 1 pairs a SNI-forwarding gateway's outer and inner legs (src/scale/hop-pairing.ts), so the
 * inner leg, which names no caller, goes to its caller's by-source partition. Read through the real
 * Rekeyer (decoder, normaliser, encoding) on the lines istio.io published (test/fixtures/
 * published-lines.txt SNI1-SNI7, sources in test/fixtures/README.md) with the shipper metadata a
 * DaemonSet adds, and on the simulator's SNI-forwarding gateway.
 */
import { describe, expect, it } from 'vitest';
import { HOP_START_MS } from '../../src/detect/join.js';
import { newEgressEvent } from '../../src/identity/event.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { decodeEvent } from '../../src/scale/event-codec.js';
import { HopPairer, type Released } from '../../src/scale/hop-pairing.js';
import { HOLD_IDLE_MS, Rekeyer } from '../../src/scale/rekey.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { fixture } from '../fixtures/load.js';

const PUB = '../fixtures/published-lines.txt';
const MESH = {
  meshCidrs: ['172.17.0.0/16', '10.0.0.0/8'],
  meshDomains: ['cluster.local'],
  egressGatewayHosts: ['egressgateway.istio-egress.svc.cluster.local'],
};
const LATENESS = 5000;

/** A published line as a DaemonSet's shipper sends it: sleep's sidecar, or the gateway in istio-egress. */
function shipped(id: string): string {
  const gateway = id !== 'SNI3' && id !== 'SNI4' && id !== 'SNI7';
  const line = fixture(PUB, id);
  return JSON.stringify({
    time: `${line.slice(1, 25)}`,
    log: line,
    kubernetes: gateway
      ? {
          pod_name: 'egressgateway-6d8f9b7c4d-q9wz2',
          namespace_name: 'istio-egress',
          pod_ip: '172.17.5.170',
          labels: { app: 'egressgateway', istio: 'egressgateway' },
          container_name: 'istio-proxy',
        }
      : {
          pod_name: 'sleep-7c7db887d8-9dnd7',
          namespace_name: 'default',
          pod_ip: '172.17.34.35',
          labels: { app: 'sleep' },
          container_name: 'istio-proxy',
        },
  });
}

interface Sent {
  key: string;
  event: EgressEvent;
}

function decoded(messages: { key?: unknown; value?: unknown }[]): Sent[] {
  return messages.map((m) => {
    const event = newEgressEvent();
    decodeEvent(String(m.value), event);
    return { key: String(m.key), event };
  });
}

const isInner = (e: EgressEvent): boolean => e.downstreamRemoteAddress === 'envoy://internal_client_address/';
const isOuter = (e: EgressEvent): boolean => e.upstreamLocalAddress === 'envoy://internal_client_address/';

/** Rekeys `batches` of published ids (one input partition, offsets counted on), with a settable clock. */
function rekeyBatches(batches: string[][], clock = { now: 0 }) {
  const r = new Rekeyer({ format: 'auto' }, MESH, 60_000, 'namespace', () => clock.now, LATENESS);
  let offset = 0;
  return {
    r,
    outs: batches.map((ids) => {
      const base = offset;
      offset += ids.length;
      return r.rekey(ids.map(shipped), 'kafka:in', (i) => `0/${base + i}`);
    }),
  };
}

describe('stage 1 pairs a SNI-forwarding gateway’s inner leg with its outer leg', () => {
  it.each([
    ['inner leg first, as published', ['SNI7', 'SNI5', 'SNI6']],
    ['outer leg first', ['SNI7', 'SNI6', 'SNI5']],
    ['gateway lines before the sidecar’s', ['SNI5', 'SNI6', 'SNI7']],
  ])('in one batch, %s: the inner leg goes keyed as its outer leg', (_, ids) => {
    const { r, outs } = rekeyBatches([['SNI3'], ids]);
    const sent = decoded(outs[1]?.messages ?? []);
    expect(sent).toHaveLength(3);
    const inner = sent.find((s) => isInner(s.event)) as Sent;
    const outer = sent.find((s) => isOuter(s.event)) as Sent;
    // Before the pairing the inner leg went keyed by its own (unknown) source.
    expect(inner.event.source.namespace).toBeNull();
    expect(inner.event.destination.host).toBe('de.wikipedia.org');
    expect(outer.key).toBe('default');
    expect(inner.key).toBe(outer.key);
    expect(outs[1]?.held).toBeNull();
    expect(r.hops.counters).toEqual({ paired: 1, unpaired: 0 });
  });

  it('holds an inner leg that ends a batch, and what its input partition read after it, until its outer leg comes; the batch’s ack waits', async () => {
    const { r, outs } = rekeyBatches([
      ['SNI7', 'SNI5', 'SNI3'],
      ['SNI6', 'SNI4'],
    ]);
    const [first, second] = outs;
    // Batch 1: the sidecar leg goes; the inner leg waits, and SNI3 (read after it) waits behind it:
    // stage 2 takes an input partition's events in input order only.
    expect(decoded(first?.messages ?? []).map((s) => s.event.origin)).toEqual(['kafka:in/0/0']);
    const gate = first?.held;
    expect(gate).not.toBeNull();
    expect(first?.gates).toEqual([]);
    let acked = false;
    void gate?.released.then(() => {
      acked = true;
    });
    // Batch 2: the held inner leg keyed as the outer leg that came now, SNI3, then batch 2's lines;
    // batch 1's gate comes with them.
    const sent = decoded(second?.messages ?? []);
    expect(sent.map((s) => [s.event.origin, s.key])).toEqual([
      ['kafka:in/0/1', 'default'],
      ['kafka:in/0/2', 'default'],
      ['kafka:in/0/3', 'default'],
      ['kafka:in/0/4', 'default'],
    ]);
    expect(isInner(sent[0]?.event as EgressEvent) && isOuter(sent[2]?.event as EgressEvent)).toBe(true);
    expect(second?.held).toBeNull();
    expect(second?.gates).toEqual([gate]);
    await Promise.resolve();
    expect(acked).toBe(false);
    // Once the broker acknowledged batch 2's messages, batch 1 may be acked.
    for (const g of second?.gates ?? []) g.sent();
    await gate?.released;
    expect(acked).toBe(true);
    expect(r.hops.counters).toEqual({ paired: 1, unpaired: 0 });
  });

  it('marks the input partition no further than the newest event sent before a held leg, so stage 2 finds none of the held late', () => {
    const { r } = rekeyBatches([['SNI7', 'SNI5', 'SNI4']]);
    expect(r.progress?.time).toBe(Date.parse('2023-11-24T13:21:52.994Z')); // SNI7's, not SNI4's
    // Nothing of the partition sent yet: it has not passed any time; a later line does not move it.
    const later = new Rekeyer({ format: 'auto' }, MESH, 60_000, 'namespace', () => 0, LATENESS);
    later.rekey([shipped('SNI5'), shipped('SNI4')], 'kafka:in', (i) => `0/${i}`);
    expect(later.progress?.time).toBe(Number.NEGATIVE_INFINITY);
    later.rekey([shipped('SNI4')], 'kafka:in', () => '0/2');
    expect(later.progress?.time).toBe(Number.NEGATIVE_INFINITY);
  });

  it('sends an inner leg with no outer leg on unpaired, keyed by its own source, once event time passed the bound', () => {
    // SNI4 (2.2 s later) does not pass HOP_START_MS + lateness; a line 10 s later does.
    const { r, outs } = rekeyBatches([['SNI5'], ['SNI4']]);
    expect(outs[0]?.messages).toEqual([]);
    expect(outs[1]?.messages).toEqual([]);
    const late = fixture(PUB, 'SNI4').replace('13:21:55.197Z', '13:22:03.197Z');
    const at = JSON.parse(shipped('SNI4')) as { log: string };
    at.log = late;
    const out = r.rekey([JSON.stringify(at)], 'kafka:in', () => '0/2');
    const sent = decoded(out.messages);
    expect(sent.map((s) => [isInner(s.event), s.key])).toEqual([
      [true, 'unknown/-'],
      [false, 'default'],
      [false, 'default'],
    ]);
    expect(out.gates).toEqual([outs[0]?.held, outs[1]?.held]);
    expect(out.held).toBeNull();
    expect(r.hops.counters).toEqual({ paired: 0, unpaired: 1 });
    expect(r.progress?.time).toBe(Date.parse('2023-11-24T13:22:03.197Z'));
  });

  it('sends a held inner leg on unpaired when its input partition delivers nothing for a second, or at the end', () => {
    const clock = { now: 0 };
    const { r } = rekeyBatches([['SNI5', 'SNI4']], clock);
    clock.now = HOLD_IDLE_MS - 1;
    expect(r.releaseHeld().messages).toEqual([]);
    clock.now = HOLD_IDLE_MS;
    const idle = r.releaseHeld();
    expect(decoded(idle.messages).map((s) => s.key)).toEqual(['unknown/-', 'default']);
    expect(idle.gates).toHaveLength(1);
    expect(r.hops.heldCount).toBe(0);
    expect(r.releaseHeld().messages).toEqual([]);
    // At the end of input everything held goes, however recent.
    const end = rekeyBatches([['SNI1']], clock).r;
    expect(end.releaseHeld().messages).toEqual([]);
    expect(decoded(end.releaseHeld(true).messages)).toHaveLength(1);
  });
});

describe('HopPairer rules and bounds', () => {
  const leg = (time: number, durationMs: number, up: number, down: number): EgressEvent => {
    const e = newEgressEvent();
    e.time = time;
    e.durationMs = durationMs;
    e.bytesUp = up;
    e.bytesDown = down;
    return e;
  };
  type Item = ['outer' | 'inner' | 'other', EgressEvent, string];
  /** One batch of `stream`: outer legs keyed by their name, inner legs own key `own`, others key `x`. */
  const batch = (p: HopPairer, items: Item[], maxTime: number, stream = 's') => {
    p.begin(stream, Number.NEGATIVE_INFINITY);
    for (const [kind, e, name] of items) {
      if (kind === 'outer') p.outer(e, { key: name, value: `outer-${name}` });
      else if (kind === 'inner') p.inner(e, 'own', name);
      else p.pass({ key: 'x', value: name }, e.time);
    }
    return p.endBatch(maxTime);
  };
  const inners = (r: { released: Released }) =>
    r.released.messages.filter((m) => !String(m.value).startsWith('outer-')).map((m) => [m.key, m.value]);

  it('takes the outer leg closest in start and duration that carried at least the inner leg’s bytes', () => {
    const p = new HopPairer({ holdMs: HOP_START_MS + LATENESS, maxHeld: 100 });
    const r = batch(
      p,
      [
        ['outer', leg(1000, 50, 1539, 93_646), 'a'],
        ['outer', leg(1000, 49, 800, 90_000), 'b'], // closer, but fewer bytes up than the inner leg
        ['outer', leg(1000 + HOP_START_MS + 1, 49, 1539, 93_646), 'c'], // started too late
        ['inner', leg(1000, 49, 821, 92_848), 'inner'],
      ],
      2050,
    );
    expect(inners(r)).toEqual([['a', 'inner']]);
    expect(r.gate).toBeNull();
  });

  it('pairs an inner leg only with an outer leg it fits inside, best over all waiting legs (simulated lines where the first fit mis-paired)', () => {
    const p = new HopPairer({ holdMs: HOP_START_MS + LATENESS, maxHeld: 100 });
    const r = batch(
      p,
      [
        // Two connections 119 ms apart, logged outer A, inner B, outer B, inner A: B's inner leg ends
        // after A's outer leg, so it is not A's though it came first after it.
        ['outer', leg(1000, 219, 3275, 39_021), 'a'],
        ['inner', leg(1119, 395, 2138, 1775), 'inner-b'],
        ['outer', leg(1119, 395, 2890, 2562), 'b'],
        ['inner', leg(1000, 218, 2565, 38_165), 'inner-a'],
        // Two replicas' connections in the same millisecond: outer C, inner D (fits inside C in time
        // and bytes), outer D, inner C: the closest start and duration over all decide.
        ['outer', leg(5451, 45, 1184, 939), 'c'],
        ['inner', leg(5452, 28, 543, 142), 'inner-d'],
        ['outer', leg(5452, 28, 1258, 973), 'd'],
        ['inner', leg(5451, 44, 459, 102), 'inner-c'],
      ],
      5500,
    );
    expect(inners(r)).toEqual([
      ['b', 'inner-b'],
      ['a', 'inner-a'],
      ['d', 'inner-d'],
      ['c', 'inner-c'],
    ]);
  });

  it('keeps input order: what came after a held inner leg waits with it, and its batch’s gate opens when the last of it goes', async () => {
    const p = new HopPairer({ holdMs: 100, maxHeld: 100 });
    const first = batch(
      p,
      [
        ['other', leg(0, 1, 0, 0), 'p1'],
        ['inner', leg(5, 10, 10, 10), 'i1'],
        ['other', leg(3, 1, 0, 0), 'p2'],
      ],
      5,
    );
    expect(first.released.messages.map((m) => m.value)).toEqual(['p1']);
    expect(first.markTime).toBe(0); // the newest time sent, not p2's or the inner leg's
    let open = false;
    void first.gate?.released.then(() => {
      open = true;
    });
    const second = batch(p, [['other', leg(50, 1, 0, 0), 'p3']], 50);
    expect(second.released.messages).toEqual([]);
    expect(second.gate).not.toBeNull();
    // 100 ms past the inner leg's end: it goes on unpaired, and everything behind it.
    const third = batch(p, [['other', leg(116, 1, 0, 0), 'p4']], 116);
    expect(third.released.messages.map((m) => [m.key, m.value])).toEqual([
      ['own', 'i1'],
      ['x', 'p2'],
      ['x', 'p3'],
      ['x', 'p4'],
    ]);
    expect(third.released.gates).toEqual([first.gate, second.gate]);
    expect(third.markTime).toBe(116);
    await Promise.resolve();
    expect(open).toBe(false);
    for (const g of third.released.gates) g.sent();
    await first.gate?.released;
    expect(open).toBe(true);
    expect(p.counters).toEqual({ paired: 0, unpaired: 1 });
  });

  it('holds at most maxHeld inner legs and events behind them: the oldest goes on unpaired, never dropped', () => {
    const p = new HopPairer({ holdMs: HOP_START_MS + LATENESS, maxHeld: 2 });
    const items: Item[] = [0, 1, 2].map((i) => ['inner', leg(i, 10, 10, 10), `i${i}`]);
    const r = batch(p, items, 2);
    expect(r.released.messages.map((m) => [m.key, m.value])).toEqual([['own', 'i0']]);
    expect(p.heldCount).toBe(2);
    const behind = batch(p, [['other', leg(3, 1, 0, 0), 'p']], 3);
    // Three events would wait: the oldest waiting inner leg goes, and what it held back.
    expect(behind.released.messages.map((m) => m.value)).toEqual(['i1']);
    expect(p.counters.unpaired).toBe(2);
  });
});
describe('stage 1 on the simulator’s SNI-forwarding gateway', () => {
  it('sends every inner leg to the partition key of its outer leg', () => {
    const lines = [
      ...generateTraffic({
        start: Date.parse('2025-03-03T08:00:00.000Z'),
        durationMs: 3 * 3_600_000,
        rate: 100,
        format: 'json',
        envelope: 'fluent-bit',
        seed: 7,
        attacks: ['subdomain-spray', 'upload-spike'],
        gateway: 'istio-egress',
        sniForwarding: true,
      }),
    ];
    const r = new Rekeyer({ format: 'json' }, MESH, 60_000, 'namespace', () => 0, LATENESS);
    const sent: Sent[] = [];
    // Batches of 97 lines: some pairs straddle a batch boundary.
    for (let i = 0; i < lines.length; i += 97) {
      const out = r.rekey(lines.slice(i, i + 97), 'kafka:in', (j) => `0/${i + j}`);
      for (const g of out.gates) g.sent();
      sent.push(...decoded(out.messages));
    }
    sent.push(...decoded(r.releaseHeld(true).messages));
    const inner = sent.filter((s) => isInner(s.event));
    const outer = sent.filter((s) => isOuter(s.event));
    expect(inner.length).toBeGreaterThan(50);
    expect(inner).toHaveLength(outer.length);
    expect(r.hops.counters).toEqual({ paired: inner.length, unpaired: 0 });
    // Each inner leg went where its own outer leg went: the one with its start that carried its
    // bytes plus the simulator's mTLS overhead (700-760 bytes up, simulate/record.ts).
    for (const i of inner) {
      const own = outer.filter(
        (o) =>
          o.event.time === i.event.time &&
          o.event.bytesUp - i.event.bytesUp >= 700 &&
          o.event.bytesUp - i.event.bytesUp <= 760,
      );
      expect(own).toHaveLength(1);
      expect(i.key).toBe(own[0]?.key);
    }
    expect(inner.some((i) => i.key.startsWith('unknown/'))).toBe(false);
  });
});
