/**
 * beaconing: a new, regular call pattern from one identity to one external host, scored the way
 * RITA scores beacons: the gaps between connections (Bowley skewness near 0, small median absolute
 * deviation relative to the median gap) and their sizes (same two measures), over many connections.
 * Calls closer than `minGap` are one burst. A pattern already regular during the learning period
 * (a metrics agent, a health check) is remembered as normal and never reported.
 */
import { median, medianAbsoluteDeviation, quantileSorted } from 'simple-statistics';
import { z } from 'zod';
import type { EgressEvent } from '../../identity/types.js';
import { hostMatch } from '../../policy/match.js';
import { duration } from '../duration.js';
import { type DetectorSpec, destName, eventFinding } from '../spec.js';
import { KeyTable } from '../state/key-table.js';
import { type DetectionState, isEgress, KEY_SEP } from '../state/store.js';
import type { Detector, Emit } from '../types.js';

export const BeaconingConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    minConnections: z
      .number()
      .int()
      .min(4)
      .default(6)
      .describe('Connections needed before a pattern is scored.'),
    maxConnections: z.number().int().min(8).max(256).default(48).describe('Most recent connections scored.'),
    threshold: z
      .number()
      .min(0)
      .max(1)
      .default(0.85)
      .describe('Score (0..1) at or above which the pattern is a beacon.'),
    minGap: duration('5s', 'Calls closer than this are one burst.'),
    checkEvery: z.number().int().positive().default(2).describe('Score every N connections.'),
    ignoreHosts: z.array(z.string()).default([]),
  })
  .strict();
export type BeaconingConfig = z.infer<typeof BeaconingConfigSchema>;

interface Track {
  base: number;
  /** Seconds since `base` of each burst start (ring). */
  times: Uint32Array;
  sizes: Uint32Array;
  count: number;
  lastMs: number;
  /** Regular already during learning: normal. */
  known: boolean;
}

export interface BeaconScore {
  score: number;
  gapSkew: number;
  gapMadRatio: number;
  sizeSkew: number;
  sizeMadRatio: number;
  medianGapSeconds: number;
  medianSize: number;
  connections: number;
}

function bowley(sorted: number[]): number {
  const q1 = quantileSorted(sorted, 0.25);
  const q2 = quantileSorted(sorted, 0.5);
  const q3 = quantileSorted(sorted, 0.75);
  return q3 - q1 === 0 || q2 === q1 || q2 === q3 ? 0 : (q3 + q1 - 2 * q2) / (q3 - q1);
}

/** RITA-style score of a series of connection start times (s) and sizes (bytes). */
export function scoreBeacon(times: readonly number[], sizes: readonly number[]): BeaconScore {
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) gaps.push((times[i] as number) - (times[i - 1] as number));
  gaps.sort((a, b) => a - b);
  const sortedSizes = [...sizes].sort((a, b) => a - b);
  const gapMedian = median(gaps);
  const gapMad = medianAbsoluteDeviation(gaps);
  const sizeMedian = median(sortedSizes);
  const sizeMad = medianAbsoluteDeviation(sortedSizes);
  const gapSkew = bowley(gaps);
  const sizeSkew = bowley(sortedSizes);
  const gapMadRatio = gapMedian > 0 ? gapMad / gapMedian : 1;
  const sizeMadRatio = sizeMedian > 0 ? sizeMad / sizeMedian : 0;
  const ts = (1 - Math.abs(gapSkew) + Math.max(0, 1 - gapMadRatio / 0.2)) / 2;
  const ds = (1 - Math.abs(sizeSkew) + Math.max(0, 1 - sizeMadRatio / 0.5)) / 2;
  return {
    score: 0.6 * ts + 0.4 * ds,
    gapSkew,
    gapMadRatio,
    sizeSkew,
    sizeMadRatio,
    medianGapSeconds: gapMedian,
    medianSize: sizeMedian,
    connections: times.length,
  };
}

export class BeaconingDetector implements Detector {
  readonly ruleId = 'beaconing' as const;
  readonly table: KeyTable<Track>;

  constructor(
    private readonly config: BeaconingConfig,
    private readonly state: DetectionState,
    private readonly learningMs: number,
    maxKeys: number,
  ) {
    this.table = new KeyTable<Track>('beaconing', maxKeys);
    state.register({
      name: 'beaconing',
      identities: () => {
        const ids = new Set<string>();
        for (const [k, e] of this.table.entries()) if (e.value.known) ids.add(k.slice(0, k.indexOf(KEY_SEP)));
        return ids;
      },
      exportIdentity: (id) => {
        const prefix = id + KEY_SEP;
        const known: string[] = [];
        for (const [k, e] of this.table.entries())
          if (e.value.known && k.startsWith(prefix)) known.push(k.slice(prefix.length));
        return known.length > 0 ? { known } : undefined;
      },
      importIdentity: (id, data) => {
        for (const host of (data as { known: string[] }).known) {
          const t = newTrack(0, 8);
          t.known = true;
          this.table.set(id + KEY_SEP + host, t);
        }
      },
    });
  }

  observe(event: EgressEvent, emit: Emit): void {
    if (!isEgress(event) || !event.destination.external || this.state.redundant) return;
    const key = this.state.currentHostKey;
    const t = this.table.touch(key, event.time, () => newTrack(event.time, 8));
    const size = event.bytesUp + event.bytesDown;
    if (t.count > 0 && event.time - t.lastMs < this.config.minGap) {
      const last = (t.count - 1) % t.sizes.length;
      t.sizes[last] = Math.min(0xffffffff, (t.sizes[last] as number) + size);
      t.lastMs = event.time; // a burst lasts while calls keep coming closer than minGap
      return;
    }
    if (t.count === 0 && t.base === 0) t.base = event.time;
    if (t.count >= t.times.length && t.times.length < this.config.maxConnections)
      grow(t, Math.min(this.config.maxConnections, t.times.length * 2));
    const slot = t.count % t.times.length;
    t.times[slot] = Math.max(0, Math.round((event.time - t.base) / 1000));
    t.sizes[slot] = Math.min(0xffffffff, size);
    t.count++;
    t.lastMs = event.time;
    if (t.count < this.config.minConnections || t.count % this.config.checkEvery !== 0) return;
    const learning = event.time < this.state.startTime + this.learningMs;
    if (t.known && !learning) return;
    const n = Math.min(t.count, t.times.length);
    const times: number[] = [];
    const sizes: number[] = [];
    for (let i = t.count - n; i < t.count; i++) {
      times.push(t.times[i % t.times.length] as number);
      sizes.push(t.sizes[i % t.times.length] as number);
    }
    const s = scoreBeacon(times, sizes);
    if (s.score < this.config.threshold) return;
    if (learning) {
      t.known = true;
      return;
    }
    const host = destName(event);
    if (this.config.ignoreHosts.some((p) => hostMatch(p, host))) return;
    emit(
      eventFinding(
        event,
        this.ruleId,
        'high',
        `${event.source.key} -> ${host}`,
        `${event.source.key} calls ${host} every ${Math.round(s.medianGapSeconds)}s with near-constant size (${Math.round(s.medianSize)} bytes): a new regular pattern scoring ${s.score.toFixed(2)} over ${s.connections} connections.`,
        { ...s, firstSeen: new Date(t.base).toISOString() },
      ),
    );
  }

  advance(): void {}

  stateSize(): number {
    return this.table.size;
  }
}

function newTrack(base: number, capacity: number): Track {
  return {
    base,
    times: new Uint32Array(capacity),
    sizes: new Uint32Array(capacity),
    count: 0,
    lastMs: 0,
    known: false,
  };
}

function grow(t: Track, capacity: number): void {
  const times = new Uint32Array(capacity);
  const sizes = new Uint32Array(capacity);
  times.set(t.times);
  sizes.set(t.sizes);
  t.times = times;
  t.sizes = sizes;
}

export const beaconingSpec: DetectorSpec<BeaconingConfig> = {
  ruleId: 'beaconing',
  summary: 'A new, regular call pattern (RITA-style gap and size regularity) from one identity to one host.',
  config: BeaconingConfigSchema,
  create: (config, ctx) => {
    const d = new BeaconingDetector(config, ctx.state, ctx.learningPeriodMs, ctx.maxKeys);
    ctx.trackTable(d.table as KeyTable<unknown>);
    return d;
  },
};
