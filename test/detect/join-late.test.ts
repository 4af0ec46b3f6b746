/**
 * Late legs and the connection join. Envoy writes a line when the connection closes and stamps it
 * with its start, so a long connection's line comes after lines of connections that started later:
 * one leg of it can be behind the watermark (late) while the other is on time and waiting in the
 * join. The late leg joins its waiting partner, which stands for the connection at its own time;
 * a late leg with no partner is dead-lettered as before. Lines: the published plain-TCP pair
 * (test/fixtures/connection-pairs.txt) rewritten per connection (test/helpers/envoy-close-order.ts);
 * the internal-listener cases use the istio.io egress-sni lines (test/fixtures/published-lines.txt).
 */
import { describe, expect, it } from 'vitest';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { GatewaySilenceDetector } from '../../src/detect/detectors/gateway-silence.js';
import { DetectionEngine } from '../../src/detect/engine.js';
import { ConnectionJoiner, isJoinedGatewayLeg } from '../../src/detect/join.js';
import { DetectionState } from '../../src/detect/state/store.js';
import type { Detector, Finding } from '../../src/detect/types.js';
import { cloneEgressEvent } from '../../src/identity/event.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { fixture } from '../fixtures/load.js';
import {
  type Connection,
  decodeLines,
  inCloseOrder,
  stagesDefaultOnlyIbm,
  steadyTraffic,
  type WrittenLine,
} from '../helpers/envoy-close-order.js';

const T0 = Date.parse('2022-02-19T09:31:00.000Z');
const CONFIG = DetectionConfigSchema.parse({});
const GATEWAY_SILENCE = CONFIG.detectors['gateway-silence'];

interface Run {
  /** Events the detectors saw, in order (copies). */
  delivered: EgressEvent[];
  findings: Finding[];
  /** Lines dead-lettered as late: id and reason. */
  late: { id: string; reason: string }[];
  engine: DetectionEngine;
}

/** Each line through the real decoder and normaliser into an engine (default lateness and join tolerance). */
function run(lines: readonly WrittenLine[]): Run {
  const delivered: EgressEvent[] = [];
  const findings: Finding[] = [];
  const recorder: Detector = {
    ruleId: 'gateway-bypass',
    observe: (e) => {
      delivered.push({ ...cloneEgressEvent(e), join: e.join == null ? null : { ...e.join } });
    },
    advance: () => {},
    stateSize: () => 0,
  };
  const engine = new DetectionEngine(
    {
      latenessMs: CONFIG.lateness,
      maxBufferedEvents: 100_000,
      joinToleranceMs: GATEWAY_SILENCE.matchTolerance,
    },
    new DetectionState({ maxKeys: 10_000, tzOffsetMs: 0 }),
    [recorder, new GatewaySilenceDetector(GATEWAY_SILENCE)],
    (f) => findings.push(f),
  );
  const late: Run['late'] = [];
  const events = decodeLines(lines.map((l) => l.line));
  events.forEach((e, i) => {
    const id = (lines[i] as WrittenLine).id;
    e.origin = id;
    if (!engine.observe(e)) late.push({ id, reason: engine.lateReason(e.time) });
    engine.advance();
  });
  engine.flush();
  return { delivered, findings, late, engine };
}

const byId = (r: Run, id: string) => r.delivered.filter((e) => e.origin === id);
const unaccounted = (r: Run) => r.findings.filter((f) => f.ruleId === 'unaccounted-gateway-leg');

describe('a late leg joins its partner still waiting in the connection join', () => {
  const steady = steadyTraffic(T0, T0 + 40_000, 100, 40_000);

  it("a long connection's sidecar leg behind the watermark joins its on-time gateway leg, which is judged as the sidecar's", () => {
    // 7 s connection: the sidecar wrote its line at the close (7 s behind the newest line: beyond
    // the 5 s lateness); the gateway's line reached the pipeline soon after the start.
    const long: Connection = {
      client: 0,
      start: T0 + 10_050,
      sidecarMs: 7_000,
      gatewayWrittenAfterMs: -6_900,
      port: 33_000,
    };
    const r = run(inCloseOrder([...steady, long]));
    expect(r.late).toEqual([]);
    expect(byId(r, 'S33000')).toEqual([]);
    const [g] = byId(r, 'G33000');
    expect(g?.join).toMatchObject({ by: 'address', otherOrigin: 'S33000', late: true });
    // The gateway leg took the sidecar's identity and stands for the connection (not redundant).
    expect(g?.source).toMatchObject({ namespace: 'default', workload: 'sleep', ip: '10.108.0.56' });
    expect(g?.destination).toMatchObject({ host: 'my.server.com', port: 1234 });
    expect(isJoinedGatewayLeg(g as EgressEvent)).toBe(false);
    expect(r.engine.counters).toMatchObject({ late: 0, joinedLate: 1 });
    expect(r.engine.joiner.counters.joinedLate).toBe(1);
    // Every delivered event in event-time order: nothing was re-stamped or delivered out of turn.
    const times = r.delivered.map((e) => e.time);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(unaccounted(r)).toEqual([]);
  });

  it("a long connection's gateway leg behind the watermark gives the waiting sidecar leg its destination", () => {
    const long: Connection = {
      client: 0,
      start: T0 + 10_050,
      sidecarMs: 100,
      gatewayWrittenAfterMs: 6_900,
      port: 33_000,
    };
    const r = run(inCloseOrder([...steady, long]));
    expect(r.late).toEqual([]);
    expect(byId(r, 'G33000')).toEqual([]);
    const [s] = byId(r, 'S33000');
    expect(s?.join).toMatchObject({ by: 'address', otherOrigin: 'G33000', late: true });
    expect(s?.join?.hostFromEarlierLegs).toBeUndefined();
    expect(s?.destination).toMatchObject({ host: 'my.server.com', ip: '192.168.0.78', port: 1234 });
    expect(r.engine.counters).toMatchObject({ late: 0, joinedLate: 1 });
  });

  it('a late sidecar leg whose gateway leg starts 1 ms later, on this side of the watermark: dead-lettered, then taken up by it', () => {
    // Steady lines up to a start at X (its gateway leg at X + 1: the newest time, so the watermark
    // is X + 1 - 5 s); then a connection that started at X - 5 s, both legs written at once.
    const x = T0 + 20_000;
    const long: Connection = {
      client: 0,
      start: x - 5_000,
      sidecarMs: 5_023,
      gatewayWrittenAfterMs: -1,
      port: 33_000,
    };
    const r = run(inCloseOrder([...steady, long]));
    expect(r.late.map((l) => l.id)).toEqual(['S33000']);
    const [g] = byId(r, 'G33000');
    expect(g?.join).toMatchObject({ by: 'address', otherOrigin: 'S33000', late: true });
    expect(g?.source.workload).toBe('sleep');
    expect(r.engine.joiner.counters).toMatchObject({ joinedLate: 0, joinedAfterDeadLetter: 1 });
    expect(r.engine.counters.late).toBe(1);
  });

  it('three sidecar legs later than lateness + join tolerance: dead-lettered, and one that comes before its window is judged accounts for its gateway leg', () => {
    // The billing pod's three connections, 3 s apart; their gateway legs on time. The first one's
    // sidecar line comes 18 s after its start (its gateway leg already released unjoined: 5 s
    // lateness + 10 s join wait), before the third gateway leg is released; the other two 30 s after.
    const three = (sidecar: boolean): Connection[] =>
      [0, 1, 2].map((k) => ({
        client: 1,
        start: T0 + 5_000 + k * 3_000,
        sidecarMs: k === 0 ? 18_000 : 30_000,
        gatewayWrittenAfterMs: 10 - (k === 0 ? 18_000 : 30_000),
        port: 33_000 + k,
        ...(sidecar ? {} : { noSidecarLine: true }),
      }));
    const r = run(inCloseOrder([...steady, ...three(true)]));
    // Each late sidecar line is dead-lettered with its reason (not lost), none joined.
    expect(r.late.map((l) => l.id)).toEqual(['S33000', 'S33001', 'S33002']);
    for (const l of r.late) expect(l.reason).toMatch(/^late event: its time .* behind the watermark/);
    for (const k of [0, 1, 2]) expect(byId(r, `G3300${k}`)[0]?.join?.by).toBe('none');
    // Only two gateway legs of the window are left unaccounted: below unaccountedMin (3).
    expect(unaccounted(r)).toEqual([]);
    expect(r.engine.counters).toMatchObject({ late: 3, joinedLate: 0 });

    // The same three gateway legs with no sidecar line at all: still an alert.
    const attack = run(inCloseOrder([...steady, ...three(false)]));
    expect(unaccounted(attack).map((f) => [f.evidence.kind, f.evidence.count, f.source.ip])).toEqual([
      ['unaccounted-gateway-legs', 3, '10.108.0.57'],
    ]);
  });

  it('judges the joined connection by policy at the gateway leg, naming the sidecar workload and the late join', () => {
    // Only the billing pod's steady traffic; the sleep pod's one long connection has its sidecar leg late.
    const lines = inCloseOrder([
      ...steadyTraffic(T0, T0 + 40_000, 100, 40_000, [1]),
      { client: 0, start: T0 + 10_050, sidecarMs: 7_000, gatewayWrittenAfterMs: -6_900, port: 33_000 },
    ]);
    const stages = stagesDefaultOnlyIbm();
    for (const [i, l] of lines.entries()) stages.processLines([l.line], 'close-order', () => String(i + 1));
    stages.finish();
    const alerts = stages.takeAlerts();
    expect(stages.takeDeadLetters()).toEqual([]);
    const sleep = alerts.filter(
      (a) => a.rule.id === 'forbidden-destination' && a.source.workload === 'sleep',
    );
    expect(sleep.map((a) => [a.destination.domain, a.destination.port])).toEqual([['my.server.com', 1234]]);
    expect(sleep[0]?.evidence.join).toMatchObject({ by: 'address', late: true });
    expect(alerts.filter((a) => a.rule.id === 'unaccounted-gateway-leg')).toEqual([]);
  });
});

/**
 * A gateway forwarding by SNI through an internal listener (istio.io blog 2023/egress-sni): one
 * connection is three lines (sidecar S, the gateway's outer leg O, its inner leg I). A late one of
 * them joins only when the other two are waiting: then the connection is settled at once.
 */
describe('a late leg of a connection through an internal listener', () => {
  const PUB = '../fixtures/published-lines.txt';
  const EN = { S: 'SNI3', O: 'SNI2', I: 'SNI1' } as const;

  function joinWithLate(
    waiting: string[],
    late: string,
  ): { out: EgressEvent[]; j: ConnectionJoiner; joined: boolean } {
    const ids = [...waiting, late];
    const evs = decodeLines(ids.map((id) => fixture(PUB, id)));
    evs.forEach((e, i) => {
      e.origin = ids[i] as string;
    });
    const out: EgressEvent[] = [];
    const j = new ConnectionJoiner({ toleranceMs: 10_000 }, (e) => out.push(e));
    for (const e of evs.slice(0, -1)) j.push(e);
    const joined = j.pushLate(evs.at(-1) as EgressEvent);
    j.flush();
    return { out, j, joined };
  }
  const byOrigin = (out: EgressEvent[], id: string) => out.find((e) => e.origin === id);

  it('a late sidecar leg: the inner leg, waiting with its outer leg, stands for the connection', () => {
    const { out, j, joined } = joinWithLate([EN.O, EN.I], EN.S);
    expect(joined).toBe(true);
    const inner = byOrigin(out, EN.I) as EgressEvent;
    expect(inner.join).toMatchObject({
      by: 'internal-listener',
      otherOrigin: EN.S,
      outerOrigin: EN.O,
      late: true,
    });
    expect(isJoinedGatewayLeg(inner)).toBe(false);
    expect(inner.source.ip).toBe('172.17.34.35');
    expect(byOrigin(out, EN.S)).toBeUndefined();
    expect(j.counters).toMatchObject({ joinedLate: 1, unjoinedGatewayLegs: 0, unjoinedSidecarLegs: 0 });
  });

  it.each([
    ['inner', [EN.S, EN.O], EN.I],
    ['outer', [EN.S, EN.I], EN.O],
  ])('a late %s leg: the waiting sidecar leg stands for the connection, with the host', (_, waiting, late) => {
    const { out, joined } = joinWithLate(waiting, late);
    expect(joined).toBe(true);
    const s = byOrigin(out, EN.S) as EgressEvent;
    expect(s.join).toMatchObject({ by: 'internal-listener', outerOrigin: EN.O, late: true });
    expect(s.destination.host).toBe('en.wikipedia.org');
    // An on-time inner leg stays redundant: the sidecar leg is judged.
    const inner = byOrigin(out, EN.I);
    if (inner !== undefined) expect(isJoinedGatewayLeg(inner)).toBe(true);
  });

  it('a late sidecar leg whose outer leg has no inner leg yet is not joined, and nothing changes', () => {
    const { out, j, joined } = joinWithLate([EN.O], EN.S);
    expect(joined).toBe(false);
    expect(j.counters.joinedLate).toBe(0);
    expect(out).toEqual([]);
  });
});
