import { describe, expect, it } from 'vitest';
import { DetectionEngine } from '../../src/detect/engine.js';
import { DetectionState } from '../../src/detect/state/store.js';
import type { Detector, Emit, Finding } from '../../src/detect/types.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { egressEvent, T0 } from '../helpers/events.js';

class Recorder implements Detector {
  readonly ruleId = 'gateway-bypass' as const;
  readonly seen: number[] = [];
  readonly advances: number[] = [];
  observe(event: EgressEvent): void {
    this.seen.push(event.time);
  }
  advance(watermark: number): void {
    this.advances.push(watermark);
  }
  stateSize(): number {
    return 0;
  }
}

function engine(maxKeys = 1000, maxBufferedEvents = 1000) {
  const recorder = new Recorder();
  const findings: Finding[] = [];
  const emit: Emit = (f) => findings.push(f);
  const state = new DetectionState({ maxKeys, tzOffsetMs: 0 });
  return {
    e: new DetectionEngine({ latenessMs: 5000, maxBufferedEvents }, state, [recorder], emit),
    recorder,
    findings,
    state,
  };
}

/** Not a leg through the egress gateway: the connection join passes it straight through. */
function direct(time: number, host?: string): EgressEvent {
  return egressEvent({ time, path: 'direct-external', ...(host === undefined ? {} : { host }) });
}

describe('DetectionEngine', () => {
  it('releases events in time order only once the watermark (max time - lateness) passes them', () => {
    const { e, recorder } = engine();
    for (const dt of [0, 3000, 1000, 2000, 9000]) e.observe(direct(T0 + dt));
    e.advance();
    expect(recorder.seen).toEqual([T0, T0 + 1000, T0 + 2000, T0 + 3000]);
    expect(e.watermark).toBe(T0 + 4000);
    e.flush();
    expect(recorder.seen.at(-1)).toBe(T0 + 9000);
  });

  it('refuses events behind the watermark without changing their time, counts them and says why', () => {
    const { e, recorder } = engine();
    expect(e.observe(direct(T0 + 20_000))).toBe(true);
    e.advance();
    // 15 s behind the newest event: beyond the 5 s allowed lateness, behind the watermark.
    expect(e.observe(direct(T0))).toBe(false);
    expect(e.counters.late).toBe(1);
    expect(e.lateReason(T0)).toBe(
      `late event: its time ${new Date(T0).toISOString()} is 15.000 s behind the watermark ${new Date(T0 + 15_000).toISOString()} (allowed lateness 5 s); not analysed`,
    );
    // Within the allowed lateness: held and analysed at its own time.
    expect(e.observe(direct(T0 + 16_000))).toBe(true);
    e.flush();
    expect(recorder.seen).toEqual([T0 + 16_000, T0 + 20_000]);
  });

  it('releases events of the same millisecond in one order whatever order they arrived in', () => {
    const hosts = ['b.example', 'a.example', 'c.example'];
    const order = (arrival: string[]): string[] => {
      const seen: string[] = [];
      const state = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
      const d: Detector = {
        ruleId: 'gateway-bypass',
        observe: (ev) => {
          seen.push(ev.destination.host as string);
        },
        advance: () => {},
        stateSize: () => 0,
      };
      const e = new DetectionEngine({ latenessMs: 5000, maxBufferedEvents: 100 }, state, [d], () => {});
      e.observe(egressEvent({ time: T0 - 1000, host: 'first.example' }));
      for (const host of arrival) e.observe(egressEvent({ time: T0, host }));
      e.flush();
      return seen;
    };
    const expected = ['first.example', 'a.example', 'b.example', 'c.example'];
    expect(order(hosts)).toEqual(expected);
    expect(order([...hosts].reverse())).toEqual(expected);
  });

  it('holds the watermark at the cap the caller gives (the slowest input partition)', () => {
    const { e, recorder } = engine();
    e.observe(direct(T0 + 60_000));
    e.observe(direct(T0 + 1000));
    e.advance(T0 + 2000);
    expect(e.watermark).toBe(T0 + 2000);
    expect(recorder.seen).toEqual([T0 + 1000]);
    // The slow partition's events up to the cap are not late.
    expect(e.observe(direct(T0 + 2000))).toBe(true);
    expect(e.counters.late).toBe(0);
  });

  it('copies events so the caller may reuse its object', () => {
    const { e, recorder } = engine();
    const reused = egressEvent({ time: T0 });
    e.observe(reused);
    reused.time = T0 + 60_000;
    e.flush();
    expect(recorder.seen).toEqual([T0]);
  });

  it('advances detectors as event time passes, whatever the batch size', () => {
    const { e, recorder } = engine();
    for (let i = 0; i < 30; i++) e.observe(egressEvent({ time: T0 + i * 1000 }));
    e.advance();
    expect(recorder.advances.length).toBeGreaterThan(10);
  });

  it('releases the oldest events early when the buffer is full', () => {
    const { e, recorder } = engine(1000, 10);
    for (let i = 0; i < 11; i++) e.observe(direct(T0 + i));
    expect(e.counters.forcedReleases).toBe(1);
    expect(recorder.seen.length).toBeGreaterThan(0);
  });

  it('evicts the least recently seen keys beyond the cap and says so in a state-eviction finding', () => {
    const { e, findings, state } = engine(50);
    for (let i = 0; i < 80; i++) e.observe(egressEvent({ time: T0 + i * 60_000, host: `h${i}.example.com` }));
    e.flush();
    expect(state.hosts.size).toBe(50);
    const eviction = findings.filter((f) => f.ruleId === 'state-eviction');
    expect(eviction.length).toBeGreaterThan(0);
    expect(eviction.reduce((n, f) => n + (f.evidence.evicted as number), 0)).toBe(30);
    expect(state.hosts.get(`app-a/app-a\u0001h0.example.com`)).toBeUndefined();
    expect(state.hosts.get(`app-a/app-a\u0001h79.example.com`)).toBeDefined();
  });
});

describe('DetectionState export and import per identity', () => {
  it('round-trips one identity without touching the others', () => {
    const { e, state } = engine();
    for (let i = 0; i < 5; i++) {
      e.observe(egressEvent({ time: T0 + i * 3_600_000, host: 'www.ibm.com', bytesUp: 1000 * (i + 1) }));
      e.observe(
        egressEvent({
          time: T0 + i * 3_600_000 + 1,
          host: 'api.github.com',
          source: { ...egressEvent().source, key: 'app-b/app-b' },
        }),
      );
    }
    e.flush();
    expect(state.keys()).toEqual(['app-a/app-a', 'app-b/app-b']);
    const text = state.exportKey('app-a/app-a');
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    other.importKey('app-a/app-a', text);
    expect(other.keys()).toEqual(['app-a/app-a']);
    const a = state.hosts.get('app-a/app-a\u0001www.ibm.com');
    const b = other.hosts.get('app-a/app-a\u0001www.ibm.com');
    expect(a?.stats(0, 1, 3, 1)).not.toBeNull();
    expect(b?.stats(0, 1, 3, 1)).toEqual(a?.stats(0, 1, 3, 1));
    expect(() => other.importKey('x', '{"v":2}')).toThrow(/unsupported state/);
  });
});
