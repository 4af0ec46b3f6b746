/**
 * beaconing: a new, regular call pattern from one identity to one external host, scored the way
 * RITA scores beacons: the gaps between connections (Bowley skewness near 0, small median absolute
 * deviation relative to the median gap) and their sizes (same two measures), over many connections.
 * Calls closer than `minGap` are one burst. A pattern already regular during the learning period
 * (a metrics agent, a health check) is remembered as normal and never reported.
 */
import { z } from 'zod';
import type { EgressEvent } from '../../identity/types.js';
import { hostMatch } from '../../policy/match.js';
import { duration } from '../duration.js';
import { type DetectorSpec, destName, eventFinding } from '../spec.js';
import { BEACON_RING } from '../state/baseline.js';
import type { DetectionState } from '../state/store.js';
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
    maxConnections: z
      .number()
      .int()
      .min(8)
      .max(BEACON_RING)
      .default(BEACON_RING)
      .describe('Most recent connections scored.'),
    threshold: z
      .number()
      .min(0)
      .max(1)
      .default(0.8)
      .describe('Score (0..1) at or above which the pattern is a beacon.'),
    minGap: duration('5s', 'Calls closer than this are one burst.'),
    checkEvery: z.number().int().positive().default(2).describe('Score every N connections.'),
    ignoreHosts: z.array(z.string()).default([]),
  })
  .strict();
export type BeaconingConfig = z.infer<typeof BeaconingConfigSchema>;

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

/** quantileSorted of simple-statistics (same convention), on the first `n` entries of a sorted array. */
function q(sorted: Float64Array, n: number, p: number): number {
  const idx = n * p;
  if (p === 1) return sorted[n - 1] as number;
  if (p === 0) return sorted[0] as number;
  if (idx % 1 !== 0) return sorted[Math.ceil(idx) - 1] as number;
  if (n % 2 === 0) return ((sorted[idx - 1] as number) + (sorted[idx] as number)) / 2;
  return sorted[idx] as number;
}

function bowley(sorted: Float64Array, n: number): number {
  const q1 = q(sorted, n, 0.25);
  const q2 = q(sorted, n, 0.5);
  const q3 = q(sorted, n, 0.75);
  return q3 - q1 === 0 || q2 === q1 || q2 === q3 ? 0 : (q3 + q1 - 2 * q2) / (q3 - q1);
}

// Scratch for scoring: series are at most BEACON_RING long; scoring runs every few bursts per key,
// so it allocates nothing.
let GAPS = new Float64Array(BEACON_RING);
let SIZES = new Float64Array(BEACON_RING);
let DEV = new Float64Array(BEACON_RING);
const SERIES_T: number[] = [];
const SERIES_S: number[] = [];

/** Median absolute deviation of the first `n` entries of a sorted array whose median is `med`. */
function mad(sorted: Float64Array, n: number, med: number): number {
  for (let i = 0; i < n; i++) DEV[i] = Math.abs((sorted[i] as number) - med);
  const dev = DEV.subarray(0, n).sort();
  return q(dev, n, 0.5);
}

/** RITA-style score of a series of connection start times (s) and sizes (bytes). */
export function scoreBeacon(times: readonly number[], sizes: readonly number[]): BeaconScore {
  if (times.length > GAPS.length || sizes.length > SIZES.length) {
    const n = Math.max(times.length, sizes.length);
    GAPS = new Float64Array(n);
    SIZES = new Float64Array(n);
    DEV = new Float64Array(n);
  }
  const ng = Math.max(times.length - 1, 0);
  for (let i = 0; i < ng; i++) GAPS[i] = (times[i + 1] as number) - (times[i] as number);
  const gaps = GAPS.subarray(0, ng).sort();
  const ns = sizes.length;
  for (let i = 0; i < ns; i++) SIZES[i] = sizes[i] as number;
  const sortedSizes = SIZES.subarray(0, ns).sort();
  const gapMedian = q(gaps, ng, 0.5);
  const gapMad = mad(gaps, ng, gapMedian);
  const sizeMedian = q(sortedSizes, ns, 0.5);
  const sizeMad = mad(sortedSizes, ns, sizeMedian);
  const gapSkew = bowley(gaps, ng);
  const sizeSkew = bowley(sortedSizes, ns);
  const gapMadRatio = gapMedian > 0 ? gapMad / gapMedian : 1;
  const sizeMadRatio = sizeMedian > 0 ? sizeMad / sizeMedian : 0;
  // Bowley skew of a handful of gaps is noise: it weighs more once there are ten or more. The spread
  // of the gaps (10th to 90th percentile) relative to the median is robust for few gaps.
  const skewWeight = ng >= 10 ? 0.33 : 0.15;
  const gapSpread = gapMedian > 0 ? (q(gaps, ng, 0.9) - q(gaps, ng, 0.1)) / gapMedian : 1;
  const gapRegularity = 0.5 * Math.max(0, 1 - gapMadRatio / 0.3) + 0.5 * Math.max(0, 1 - gapSpread);
  const ts = skewWeight * (1 - Math.abs(gapSkew)) + (1 - skewWeight) * gapRegularity;
  const ds = skewWeight * (1 - Math.abs(sizeSkew)) + (1 - skewWeight) * Math.max(0, 1 - sizeMadRatio / 0.5);
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

/**
 * Burst history lives in the key's Baseline (one buffer per (identity, host) key, persisted and
 * evicted with it), so beaconing adds no per-key objects of its own.
 */
export class BeaconingDetector implements Detector {
  readonly ruleId = 'beaconing' as const;

  constructor(
    private readonly config: BeaconingConfig,
    private readonly state: DetectionState,
    private readonly learningMs: number,
  ) {}

  observe(event: EgressEvent, emit: Emit): void {
    const b = this.state.currentHost;
    if (b === null) return;
    if (!b.beaconAdd(event.time, event.bytesUp + event.bytesDown, this.config.minGap)) return;
    const count = b.beaconCount;
    if (count < this.config.minConnections || count % this.config.checkEvery !== 0) return;
    const learning = event.time < this.state.startTime + this.learningMs;
    if (b.beaconKnown && !learning) return;
    b.beaconSeriesInto(Math.min(this.config.maxConnections, BEACON_RING), SERIES_T, SERIES_S);
    const s = scoreBeacon(SERIES_T, SERIES_S);
    if (s.score < this.config.threshold) return;
    if (learning) {
      b.beaconKnown = true;
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
        { ...s, firstSeen: new Date(b.beaconBase).toISOString() },
      ),
    );
  }

  advance(): void {}

  stateSize(): number {
    return this.state.hosts.size;
  }
}

export const beaconingSpec: DetectorSpec<BeaconingConfig> = {
  ruleId: 'beaconing',
  summary: 'A new, regular call pattern (RITA-style gap and size regularity) from one identity to one host.',
  config: BeaconingConfigSchema,
  create: (config, ctx) => new BeaconingDetector(config, ctx.state, ctx.learningPeriodMs),
};
