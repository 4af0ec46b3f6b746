/**
 * beaconing: a new, regular call pattern from one identity to one external host, scored the way
 * RITA scores beacons: a time score from the gaps between connections (Bowley skewness near 0,
 * small dispersion, and RITA's connection count) and a data-size score (Bowley skewness, median
 * absolute deviation relative to the median, smallness), over many connections. Calls closer than
 * `minGap` are one burst. A pattern already regular during the learning period (a metrics agent, a
 * health check) is remembered as normal and never reported.
 */
import { z } from 'zod';
import { duration } from '../../config/duration.js';
import type { EgressEvent } from '../../identity/types.js';
import { hostMatch } from '../../policy/match.js';
import { type DetectorSpec, destName, eventFinding, type RuleSpec } from '../spec.js';
import { BEACON_RING } from '../state/baseline.js';
import type { DetectionState } from '../state/store.js';
import type { Detector, Emit } from '../types.js';

export const BeaconingConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
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
    jitter: z
      .number()
      .gt(0)
      .max(0.9)
      .default(0.3)
      .describe(
        'Gap jitter (a fraction of the period, either way) that still counts as fully regular; C2 frameworks are commonly configured with 10-30 %.',
      ),
    minGap: duration('5s', 'Calls closer than this are one burst.'),
    checkEvery: z.number().int().positive().default(2).describe('Score every N connections.'),
    ignoreHosts: z
      .array(z.string())
      .default([])
      .describe('Host patterns ("*.example.com") never reported by this detector.'),
  })
  .strict();
export type BeaconingConfig = z.infer<typeof BeaconingConfigSchema>;

/** The rule it raises (see spec.ts). */
const RULE = {
  id: 'beaconing',
  name: 'Beaconing',
  severity: 'high',
  realert: '24h',
  firesWhen:
    'RITA-style score >= `threshold` over >= `minConnections` bursts (see below); patterns regular during learning are normal',
} as const satisfies RuleSpec;

export interface BeaconScore {
  score: number;
  /** Time score (gap regularity and continuity), 0..1. */
  timeScore: number;
  /** Data-size score (size regularity and smallness), 0..1. */
  sizeScore: number;
  gapSkew: number;
  gapMadRatio: number;
  /** Implied jitter of the gaps: (p90 - p10) / (p90 + p10), the "+-" a uniform jitter would need. */
  gapJitter: number;
  /** Connections seen over connections a steady pattern at the median gap makes in the same span. */
  continuity: number;
  sizeSkew: number;
  sizeMadRatio: number;
  medianGapSeconds: number;
  medianSize: number;
  connections: number;
}

export interface BeaconScoreOptions {
  /** Gap jitter (fraction of the period) that still scores as fully regular. Default 0.3. */
  jitter?: number;
  /** The burst window: gaps are never shorter than this, so it is taken off before measuring. */
  minGapSeconds?: number;
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
/** Calls at the pattern's period inside the learning period that make it "running since the start". */
const LEARNED_BURSTS = 3;
const SERIES_S: number[] = [];

/** Median absolute deviation of the first `n` entries of a sorted array whose median is `med`. */
function mad(sorted: Float64Array, n: number, med: number): number {
  for (let i = 0; i < n; i++) DEV[i] = Math.abs((sorted[i] as number) - med);
  const dev = DEV.subarray(0, n).sort();
  return q(dev, n, 0.5);
}

/** 1 up to `tolerance`, falling linearly to 0 at `tolerance * (1 + slack)`. */
function within(x: number, tolerance: number, slack: number): number {
  return x <= tolerance ? 1 : Math.max(0, 1 - (x - tolerance) / (tolerance * slack));
}

/** Gaps from which Bowley skewness counts fully (RITA-like weight); quartiles of a handful are noise. */
const SKEW_GAPS = 30;
/** RITA's smallness reference: sizes at or above this score 0. */
const SMALL_BYTES = 65_535;

/**
 * RITA-style score of a series of connection start times (s) and sizes (bytes).
 *
 * Time score: Bowley skew of the gaps, their dispersion and RITA's connection count. Dispersion is
 * measured relative to the period rather than in absolute seconds (RITA's 30 s cut-off would call a
 * jittered 5-minute beacon irregular) and against the jitter C2 frameworks use: the implied jitter
 * of the gaps ((p90 - p10) / (p90 + p10): all gaps, for few; the middle 80 %, for many) scores 1 up
 * to `jitter` and falls steeply beyond; MAD over median scores 1 up to `jitter` too (a uniform
 * jitter puts it anywhere from 0 to about that) and falls to 0 at twice it. With 5 gaps that is close to the best possible test: a uniform +-30 % jitter
 * always passes, Poisson arrivals pass about 0.5 % of the time (the chance that 5 exponential gaps
 * fall within a factor 1.86 of each other). The connection count is RITA's (connections over the
 * time range), with the pattern's own median gap as the unit instead of RITA's fixed 10 s: 1 for a
 * steady pattern, low for bursts separated by long silences. Skewness weighs little on few gaps and
 * grows to a quarter of the time score at 30 gaps.
 *
 * Size score: Bowley skew and MAD over median of the sizes, and RITA's smallness.
 */
export function scoreBeacon(
  times: readonly number[],
  sizes: readonly number[],
  options: BeaconScoreOptions = {},
): BeaconScore {
  const jitter = options.jitter ?? 0.3;
  const floor = options.minGapSeconds ?? 0;
  if (times.length > GAPS.length || sizes.length > SIZES.length) {
    const n = Math.max(times.length, sizes.length);
    GAPS = new Float64Array(n);
    SIZES = new Float64Array(n);
    DEV = new Float64Array(n);
  }
  const ng = Math.max(times.length - 1, 0);
  // Merging calls into bursts makes every gap at least minGap: busy traffic would look regular
  // (gaps of 6-10 s) unless the floor is taken off (what is left is exponential again).
  for (let i = 0; i < ng; i++) GAPS[i] = Math.max(0, (times[i + 1] as number) - (times[i] as number) - floor);
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
  const lo = q(gaps, ng, 0.1);
  const hi = q(gaps, ng, 0.9);
  const gapJitter = hi + lo > 0 ? (hi - lo) / (hi + lo) : 1;
  const span = ng > 0 ? (times[ng] as number) - (times[0] as number) - ng * floor : 0;
  const continuity = span > 0 ? Math.min(1, (ng * gapMedian) / span) : 0;

  const skewWeight = Math.max(0.1, (0.25 * Math.min(ng, SKEW_GAPS)) / SKEW_GAPS);
  const countWeight = 0.1;
  const dispersion = 0.5 * within(gapJitter, jitter, 0.15) + 0.5 * within(gapMadRatio, jitter, 1);
  const timeScore =
    skewWeight * (1 - Math.abs(gapSkew)) +
    (1 - skewWeight - countWeight) * dispersion +
    countWeight * continuity;
  const smallWeight = 0.15;
  const sizeScore =
    skewWeight * (1 - Math.abs(sizeSkew)) +
    (1 - skewWeight - smallWeight) * Math.max(0, 1 - sizeMadRatio / 0.5) +
    smallWeight * Math.max(0, 1 - sizeMedian / SMALL_BYTES);
  return {
    score: 0.6 * timeScore + 0.4 * sizeScore,
    timeScore,
    sizeScore,
    gapSkew,
    gapMadRatio,
    gapJitter,
    continuity,
    sizeSkew,
    sizeMadRatio,
    medianGapSeconds: gapMedian + floor,
    medianSize: sizeMedian,
    connections: times.length,
  };
}

/**
 * Burst history lives in the key's Baseline (one buffer per (identity, host) key, persisted and
 * evicted with it), so beaconing adds no per-key objects of its own.
 */
export class BeaconingDetector implements Detector {
  readonly ruleId = RULE.id;

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
    const s = scoreBeacon(SERIES_T, SERIES_S, {
      jitter: this.config.jitter,
      minGapSeconds: this.config.minGap / 1000,
    });
    if (s.score < this.config.threshold) return;
    if (learning || this.runningSinceLearning(b.beaconBase, b.beaconCount, s.medianGapSeconds)) {
      b.beaconKnown = true;
      return;
    }
    const host = destName(event);
    if (this.config.ignoreHosts.some((p) => hostMatch(p, host))) return;
    emit(
      eventFinding(
        event,
        this.ruleId,
        RULE.severity,
        `${event.source.key} -> ${host}`,
        `${event.source.key} calls ${host} every ${Math.round(s.medianGapSeconds)}s (±${Math.round(s.gapJitter * 100)}%) with similar sizes (about ${Math.round(s.medianSize)} bytes): a new regular pattern scoring ${s.score.toFixed(2)} over ${s.connections} connections.`,
        { ...s, firstSeen: new Date(b.beaconBase).toISOString() },
      ),
    );
  }

  /**
   * Whether the pattern just scored was already running while the detector learned: at least
   * `LEARNED_BURSTS` of its calls fell in the learning period, and every gap from the first call up
   * to the first one after learning is within the jitter of the pattern's period. A job slower than
   * learningPeriod / minConnections (a 6-hourly certificate check under a 24 h learning period)
   * cannot reach minConnections while learning, yet it is present since the start of the history,
   * hence normal. A beacon to a host the source only called now and then while learning does not
   * qualify: those calls are not at the beacon's period. Reads SERIES_T as filled for the score.
   */
  private runningSinceLearning(base: number, count: number, periodSeconds: number): boolean {
    // The series must still hold the key's first call (it does until the ring wraps).
    if (count > SERIES_T.length || periodSeconds <= 0) return false;
    const learningEnd = (this.state.startTime + this.learningMs - base) / 1000;
    const tolerance = periodSeconds * this.config.jitter * 1.15;
    let inLearning = 0;
    for (let i = 0; i < SERIES_T.length; i++) {
      const t = SERIES_T[i] as number;
      if (i > 0 && Math.abs(t - (SERIES_T[i - 1] as number) - periodSeconds) > tolerance) return false;
      if (t >= learningEnd) return inLearning >= LEARNED_BURSTS;
      inLearning++;
    }
    return false;
  }

  advance(): void {}

  stateSize(): number {
    return this.state.hosts.size;
  }
}

export const beaconingSpec: DetectorSpec<BeaconingConfig, typeof RULE.id> = {
  rules: [RULE],
  summary: 'A new, regular call pattern (RITA-style gap and size regularity) from one identity to one host.',
  config: BeaconingConfigSchema,
  create: (config, ctx) => new BeaconingDetector(config, ctx.state, ctx.learningPeriodMs),
};
