import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { newEgressEvent } from '../../src/identity/event.js';
import type { Destination, EgressEvent } from '../../src/identity/types.js';
import { Detection, type DetectionOptions } from '../../src/pipeline/detection.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { partitionDetection } from '../../src/scale/bootstrap.js';
import type { StreamProgress } from '../../src/scale/by-source-records.js';
import { destination, egressEvent, source } from '../helpers/events.js';

const T0 = Date.parse('2025-03-03T08:00:00.000Z');
const config = partitionDetection(DetectionConfigSchema.parse({ learningPeriod: '24h' }));

function observe(a: Detection, stream: number, time: number): void {
  const e = newEgressEvent();
  e.time = time;
  e.path = 'passthrough';
  e.source.key = 'app-a/app-a';
  e.source.namespace = 'app-a';
  e.origin = `kafka:input/${stream}/${time}`;
  a.observeMerged(e);
}

function newStage(options: Partial<DetectionOptions> = {}): Detection {
  return new Detection({ detection: config, policies: new PolicySet([]), ...options });
}

/** Advances event time and takes what it raised, as stage 2 does at a batch end. */
function advance(d: Detection, out: Alert[]): void {
  d.advance();
  for (const a of d.takeAlerts()) out.push(a);
}

/** A progress mark from stage 1, as stage 2 hands it on. */
function progress(d: Detection, p: StreamProgress): void {
  d.mark(p.stream, p.time, p.caughtUp, p.readTo);
}

/** A wall clock the test moves. */
function manualClock(): { now: number; clock: () => number } {
  const c = { now: 1_000_000, clock: () => c.now };
  return c;
}

const mark = (stream: number, time: number, caughtUp = false) => ({
  stream: `kafka:input/${stream}`,
  time,
  caughtUp,
});

describe('Detection of a by-source partition: event time over several input streams', () => {
  it('holds the watermark at the slowest stream still behind, until it catches up or falls silent', () => {
    const wall = manualClock();
    const a = newStage({ idleTimeoutMs: 20_000, clock: wall.clock });
    const out: Alert[] = [];
    // Stream 0 drained ten minutes ahead; stream 1 is still at minute one.
    for (let m = 0; m <= 10; m++) observe(a, 0, T0 + m * 60_000);
    observe(a, 1, T0 + 60_000);
    advance(a, out);
    expect(a.watermark()).toBe(T0 + 60_000 - config.lateness);
    // Stream 1's next minutes are not late: they are still ahead of the watermark.
    observe(a, 1, T0 + 2 * 60_000);
    observe(a, 0, T0 + 11 * 60_000);
    advance(a, out);
    expect(a.engine.counters.late).toBe(0);
    expect(a.watermark()).toBe(T0 + 2 * 60_000 - config.lateness);
    // Stream 1's reader pauses (a rebalance): batch after batch of stream 0 does not move it ...
    for (let b = 0; b < 50; b++) {
      wall.now += 300;
      observe(a, 0, T0 + (12 + b) * 60_000);
      advance(a, out);
    }
    expect(a.watermark()).toBe(T0 + 2 * 60_000 - config.lateness);
    // ... until it has been silent longer than the stream timeout: no one reads it any more.
    wall.now += 6_000;
    observe(a, 0, T0 + 62 * 60_000);
    advance(a, out);
    expect(a.watermark()).toBe(T0 + 62 * 60_000 - config.lateness);
  });

  it('lets a stream whose mark says it is caught up go at once, and holds for one it only heard of by marks', () => {
    const wall = manualClock();
    const a = newStage({ idleTimeoutMs: 20_000, clock: wall.clock });
    const out: Alert[] = [];
    observe(a, 0, T0 + 10 * 60_000);
    // Stream 2 has sent this partition no event, but its marks say it is read up to minute three.
    progress(a, mark(2, T0 + 3 * 60_000));
    advance(a, out);
    expect(a.watermark()).toBe(T0 + 3 * 60_000 - config.lateness);
    progress(a, mark(2, T0 + 4 * 60_000, true));
    advance(a, out);
    expect(a.watermark()).toBe(T0 + 10 * 60_000 - config.lateness);
    // Stream 3 is assigned to a stage-1 reader that has not read it yet: wait for it, however long,
    // while its reader keeps saying so.
    progress(a, { ...mark(3, Number.NEGATIVE_INFINITY), caughtUp: false });
    observe(a, 0, T0 + 11 * 60_000);
    for (let b = 0; b < 100; b++) {
      wall.now += 300;
      progress(a, { ...mark(3, Number.NEGATIVE_INFINITY), caughtUp: false });
      advance(a, out);
    }
    expect(a.watermark()).toBe(T0 + 10 * 60_000 - config.lateness);
    progress(a, mark(3, T0 + 11 * 60_000, true));
    advance(a, out);
    expect(a.watermark()).toBe(T0 + 11 * 60_000 - config.lateness);
    // A caught-up stream that sends events again holds again.
    observe(a, 2, T0 + 12 * 60_000);
    observe(a, 0, T0 + 20 * 60_000);
    advance(a, out);
    expect(a.watermark()).toBe(T0 + 12 * 60_000 - config.lateness);
  });
});

describe('Detection of a by-source partition: input streams across a change of owner', () => {
  it('restores where each input stream stood, so the new owner waits for the one behind', () => {
    const wall = manualClock();
    const options = { idleTimeoutMs: 20_000, clock: wall.clock };
    const before = newStage(options);
    const out: Alert[] = [];
    observe(before, 0, T0 + 10 * 60_000);
    observe(before, 1, T0 + 2 * 60_000);
    progress(before, mark(2, T0 + 9 * 60_000, true));
    advance(before, out);
    expect(before.watermark()).toBe(T0 + 2 * 60_000 - config.lateness);
    // The checkpoint goes through the changelog as JSON.
    const global = JSON.parse(JSON.stringify(before.exportGlobal())) as Record<string, unknown>;
    const after = newStage(options);
    after.importGlobal(global);
    // The new owner's first records are all from stream 0: stream 1 still holds it back.
    observe(after, 0, T0 + 11 * 60_000);
    advance(after, out);
    expect(after.watermark()).toBe(T0 + 2 * 60_000 - config.lateness);
    observe(after, 1, T0 + 3 * 60_000);
    advance(after, out);
    expect(after.watermark()).toBe(T0 + 3 * 60_000 - config.lateness);
    expect(after.engine.counters.late).toBe(0);
  });
});

/** One TLS connection's two legs: the sidecar's (a sidecar node's input partition) and the gateway's. */
function legs(i: number): [EgressEvent, EgressEvent] {
  const time = T0 + i * 1_000;
  const client = source('app-b', 'app-b', { ip: '10.244.0.15' });
  const leg = { protocol: 'tls' as const, bytesUp: 1_000 + i };
  const mongo = (): Destination => destination('mongo1.composedb.com', { port: 27017 });
  return [
    egressEvent({ ...leg, time, source: client, destination: mongo(), origin: `kafka:input/1/${i}` }),
    egressEvent({
      ...leg,
      time: time + 3,
      path: 'gateway-to-external',
      reporter: 'egress-gateway',
      source: { ...client, principal: 'spiffe://cluster.local/ns/app-b/sa/app-b' },
      destination: mongo(),
      origin: `kafka:input/0/${i}`,
    }),
  ];
}

/**
 * Ten minutes of connections, one a second, in batches of 20 (`during(i)` runs after connection i),
 * then five a minute apart (new input offsets) that close the windows.
 */
function connections(a: Detection, out: Alert[], during: (i: number) => void): void {
  for (let i = 0; i < 600; i++) {
    const [sidecar, gateway] = legs(i);
    a.observeMerged(sidecar);
    a.observeMerged(gateway);
    during(i);
    if (i % 20 === 19) advance(a, out);
  }
  for (let b = 0; b < 5; b++) {
    const [sidecar, gateway] = legs(600 + 60 * b);
    sidecar.origin = `kafka:input/1/${200_000 + b}`;
    gateway.origin = `kafka:input/0/${200_000 + b}`;
    a.observeMerged(sidecar);
    a.observeMerged(gateway);
    advance(a, out);
  }
}

describe('Detection of a by-source partition with input read twice by stage 1', () => {
  it('does not call a gateway leg re-keyed a second time (its input partition moved in a rebalance) unaccounted', () => {
    const a = newStage();
    const out: Alert[] = [];
    connections(a, out, (i) => {
      // The gateway node's input partition changes owner at 5 minutes: the new stage-1 owner reads
      // it again from its committed offset, 30 lines back, and re-keys those lines a second time.
      // The sidecars' partition stayed where it was: their legs come once.
      if (i === 300) for (let j = 270; j <= 300; j++) a.observeMerged(legs(j)[1]);
    });
    expect(
      out
        .filter((x) => x.rule.id === 'gateway-silence' || x.rule.id === 'unaccounted-gateway-leg')
        .map((x) => x.reason),
    ).toEqual([]);
    expect(a.duplicates).toBe(31);
  });

  it('still calls gateway legs no sidecar sent unaccounted, from an input partition it has read before', () => {
    const a = newStage();
    const out: Alert[] = [];
    connections(a, out, (i) => {
      // An impersonating client from 10.244.0.15: three gateway legs no sidecar sent, new lines
      // (new offsets) on the gateway's input partition.
      if (i >= 300 && i < 303) {
        const forged = legs(i)[1];
        forged.destination.host = 'paste.example.net';
        forged.origin = `kafka:input/0/${100_000 + i}`;
        a.observeMerged(forged);
      }
    });
    const unaccounted = out.filter((x) => x.rule.id === 'unaccounted-gateway-leg');
    expect(unaccounted.map((x) => x.evidence.kind)).toEqual(['unaccounted-gateway-legs']);
    expect(out.filter((x) => x.rule.id === 'gateway-silence')).toEqual([]);
  });
});
