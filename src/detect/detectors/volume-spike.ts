/**
 * volume-spike: requests or bytes up (exfiltration) far above what the key usually reaches at this
 * time of day, over sliding windows of 1 minute, 10 minutes and 1 hour (each window's sum against
 * the peaks of the same window on previous days), per (identity, host), per (identity, registrable
 * domain) so an upload spread over subdomains still shows, and per identity over all its external
 * destinations (a workload's total upload, spread over many hosts). The reason names the window and
 * whether the host is allowed: "allowed host, 25x normal upload: ... sent 15.2 MB to www.ibm.com in
 * 10 min; usually at most 0.6 MB in 10 min at this hour".
 *
 * Threshold per window and metric: max(median x factor, median + madK x 1.4826 x MAD, minimum) of
 * the window's peaks in this part of the day (see Baseline.stats), computed once per key-hour;
 * checked on every event so it fires within the minute. One exfiltration is one finding: after a
 * finding the host, its domain and the identity's total stay quiet for `quiet`.
 */
import { z } from 'zod';
import { duration } from '../../config/duration.js';
import type { EgressEvent } from '../../identity/types.js';
import type { PolicySet } from '../../policy/policy-set.js';
import { type DetectorSpec, destName, eventFinding, formatBytes, type RuleSpec } from '../spec.js';
import { type Baseline, BYTES_UP, METRICS, REQUESTS, WINDOWS } from '../state/baseline.js';
import type { DetectionState } from '../state/store.js';
import type { Detector, Emit } from '../types.js';

const WindowSchema = (factor: number, requests: number, bytesUp: number, what: string) =>
  z
    .object({
      enabled: z.boolean().default(true).describe(`Watch the ${what} sums.`),
      factor: z
        .number()
        .positive()
        .default(factor)
        .describe(`Times the usual peak of the ${what} sum at this time of day.`),
      minimum: z
        .object({
          requests: z
            .number()
            .nonnegative()
            .default(requests)
            .describe(`Requests (and connections) in ${what} below which nothing is a spike.`),
          bytesUp: z
            .number()
            .nonnegative()
            .default(bytesUp)
            .describe(`Bytes sent in ${what} below which nothing is a spike.`),
        })
        .strict()
        .prefault({})
        .describe(`Floor of the ${what} sum below which nothing is a spike.`),
    })
    .strict()
    .prefault({});

export const VolumeSpikeConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
    madK: z.number().positive().default(6).describe('Robust z-score (MAD units) also required.'),
    minSamples: z
      .number()
      .int()
      .positive()
      .default(1)
      .describe('Days of history needed before a key can alert.'),
    keyLearningPeriod: duration('24h', 'A key must be this old before it can alert.'),
    metrics: z
      .array(z.enum(['requests', 'connections', 'bytes up', 'bytes down']))
      .default(['requests', 'bytes up'])
      .refine((m) => !m.includes('bytes down'), {
        message:
          '"bytes down" is no longer watched (a download is not exfiltration, and its history cost a third of the memory per key); remove it',
      })
      .describe(
        'Which sums to watch: requests (HTTP requests and TCP/TLS connections: "connections" is the same sum) and bytes up.',
      ),
    windows: z
      .object({
        '1m': WindowSchema(10, 60, 150_000, '1-minute'),
        '10m': WindowSchema(6, 300, 600_000, '10-minute'),
        '1h': WindowSchema(4, 1200, 2_000_000, '1-hour'),
      })
      .strict()
      .prefault({})
      .describe('Per window: factor over the usual peak, and absolute floors (bytes, requests).'),
    quiet: duration(
      '1h',
      'After a finding, the host, its domain and the identity total raise no new one for this long (one exfiltration, one alert).',
    ),
  })
  .strict();
export type VolumeSpikeConfig = z.infer<typeof VolumeSpikeConfigSchema>;

/** The rule it raises (see spec.ts). */
const RULE = {
  id: 'volume-spike',
  name: 'Egress volume spike',
  severity: 'high',
  firesWhen:
    "the sum of requests or bytes up over a sliding 1 min, 10 min or 1 h window > max(median x `factor`, median + `madK` x 1.4826 MAD, `minimum`) of that same window's peaks in this 2-hour part of the day (+-2 h) over the last 3 days; per host, per registrable domain (`*.x.com`) and per identity over all its external destinations; the reason names the window and the ratio; one upload is one alert (see below)",
} as const satisfies RuleSpec;

const WINDOW_NAMES = ['1m', '10m', '1h'] as const;
const WORDS = ['requests', 'upload'];

type Scope = 'host' | 'registrable-domain' | 'identity';

export class VolumeSpikeDetector implements Detector {
  readonly ruleId = RULE.id;
  /** Per window x metric: watched. */
  private readonly watched: boolean[] = [];
  private readonly factor: number[] = [];
  private readonly minimum: number[] = [];
  private readonly scratch = new Array<number>(WINDOWS * METRICS).fill(0);

  constructor(
    private readonly config: VolumeSpikeConfig,
    private readonly state: DetectionState,
    private readonly policies: PolicySet,
    private readonly learningMs: number,
  ) {
    const metrics = [
      config.metrics.includes('requests') || config.metrics.includes('connections'),
      config.metrics.includes('bytes up'),
    ];
    for (let w = 0; w < WINDOWS; w++) {
      const wc = config.windows[WINDOW_NAMES[w] as (typeof WINDOW_NAMES)[number]];
      this.factor.push(wc.factor);
      for (let m = 0; m < METRICS; m++) {
        this.watched.push(wc.enabled && (metrics[m] as boolean));
        this.minimum.push(m === REQUESTS ? wc.minimum.requests : wc.minimum.bytesUp);
      }
    }
  }

  observe(event: EgressEvent, emit: Emit): void {
    const host = this.state.currentHost;
    const domain = this.state.currentDomain;
    const total = this.state.currentTotal;
    // No host or domain baseline: a name its source (at its state quota) uses for the first time.
    if (total === null) return;
    const time = event.time;
    if (time < this.state.startTime + this.learningMs) return;
    const byDomain =
      event.destination.registeredDomain !== null && event.destination.registeredDomain !== destName(event);
    // A key that fires quiets the keys whose sums hold the same bytes (its domain, the identity's
    // total), not the narrower ones: a total crossed by an event to one host says nothing of that host.
    const until = time + this.config.quiet;
    for (let m = 0; m < METRICS; m++) {
      if (host !== null && this.check(host, event, emit, 'host', m)) {
        host.setQuietUntil(m, until);
        domain?.setQuietUntil(m, until);
        total.setQuietUntil(m, until);
        return;
      }
      if (byDomain && domain !== null && this.check(domain, event, emit, 'registrable-domain', m)) {
        domain.setQuietUntil(m, until);
        total.setQuietUntil(m, until);
        return;
      }
      if (this.check(total, event, emit, 'identity', m)) {
        total.setQuietUntil(m, until);
        return;
      }
    }
  }

  /**
   * Emits a finding when a window of metric `m` crosses its threshold on a key that is not quiet;
   * a quiet key still above a threshold stays quiet (the spike that fired is still in its windows,
   * or goes on: one alert, not one per `quiet`).
   */
  private check(b: Baseline, event: EgressEvent, emit: Emit, scope: Scope, m: number): boolean {
    if (event.time - b.firstSeen < this.config.keyLearningPeriod) return false;
    const hour = Math.floor((event.time + this.state.options.tzOffsetMs) / 3_600_000);
    if (b.thresholdHour() !== hour) this.computeThresholds(b, hour);
    const quiet = b.quietUntil(m) > event.time;
    for (let w = 0; w < WINDOWS; w++) {
      if (!this.watched[w * METRICS + m]) continue;
      const observed = b.windowSum(w, m);
      if (!b.exceeds(w, m, observed)) continue;
      if (quiet) {
        b.setQuietUntil(m, event.time + this.config.quiet);
        return false;
      }
      emit(this.finding(b, event, scope, w, m, observed, hour % 24));
      return true;
    }
    return false;
  }

  private finding(
    b: Baseline,
    event: EgressEvent,
    scope: Scope,
    w: number,
    m: number,
    observed: number,
    hourOfDay: number,
  ) {
    const stats = b.stats(w, m, hourOfDay, this.config.minSamples);
    const usual = stats === null ? 0 : stats.median;
    const ratio = observed / Math.max(usual, 1);
    const verdict = this.policies.empty ? null : this.policies.decideEvent(event).verdict;
    const hostNote =
      scope === 'identity'
        ? 'all external destinations'
        : verdict === 'allow'
          ? 'allowed host'
          : verdict === 'deny'
            ? 'forbidden host'
            : 'host not covered by a policy';
    const target =
      scope === 'identity'
        ? 'all its external destinations'
        : scope === 'registrable-domain'
          ? `*.${event.destination.registeredDomain}`
          : destName(event);
    const fmt = m === BYTES_UP ? formatBytes : (v: number) => String(Math.round(v));
    const span = w === 2 ? '1 h' : `${b.windowSpan(w)} min`;
    const what = m === BYTES_UP ? '' : `${WORDS[m]} `;
    const finding = eventFinding(
      event,
      this.ruleId,
      RULE.severity,
      `${event.source.key} -> ${scope === 'identity' ? '*' : target}`,
      `${hostNote}, ${ratio >= 10 ? Math.round(ratio) : ratio.toFixed(1)}x normal ${WORDS[m]}: ${event.source.key} sent ${fmt(observed)} ${what}to ${target} in ${span}; usually at most ${fmt(usual)} ${what}in ${span} at this hour.`,
      {
        metric: m === BYTES_UP ? 'bytes up' : 'requests',
        window: WINDOW_NAMES[w],
        windowMinutes: b.windowSpan(w),
        observed,
        baselineMedian: usual,
        baselineMad: stats?.mad ?? null,
        baselineBasis: stats?.basis ?? null,
        baselineSamples: stats?.samples ?? 0,
        threshold: b.threshold(w, m),
        ratio,
        policyVerdict: scope === 'identity' ? null : verdict,
        scope,
      },
    );
    // A domain-wide or identity-wide spike is not about the host whose event crossed the line.
    if (scope === 'identity') finding.destination = null;
    else if (scope === 'registrable-domain' && finding.destination !== null) {
      finding.destination.host = null;
      finding.destination.ip = null;
    }
    return finding;
  }

  private computeThresholds(b: Baseline, hour: number): void {
    const hod = ((hour % 24) + 24) % 24;
    for (let w = 0; w < WINDOWS; w++) {
      for (let m = 0; m < METRICS; m++) {
        const i = w * METRICS + m;
        if (!this.watched[i]) {
          this.scratch[i] = Number.POSITIVE_INFINITY;
          continue;
        }
        const s = b.stats(w, m, hod, this.config.minSamples);
        this.scratch[i] =
          s === null
            ? Number.POSITIVE_INFINITY
            : Math.max(
                s.median * (this.factor[w] as number),
                s.median + this.config.madK * 1.4826 * s.mad,
                this.minimum[i] as number,
              );
      }
    }
    b.setThresholds(hour, this.scratch);
  }

  advance(): void {}

  stateSize(): number {
    return this.state.hosts.size;
  }
}

export const volumeSpikeSpec: DetectorSpec<VolumeSpikeConfig, typeof RULE.id> = {
  rules: [RULE],
  summary:
    'Requests or bytes up over 1 min, 10 min or 1 h far above the key baseline for this time of day (per host, domain and identity).',
  config: VolumeSpikeConfigSchema,
  create: (config, ctx) => new VolumeSpikeDetector(config, ctx.state, ctx.policies, ctx.learningPeriodMs),
};
