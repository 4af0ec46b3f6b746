/**
 * The `detection` section of the pipeline config: event-time settings, state bounds, learning, the
 * alerts stage (realert window, severities, exceptions) and each detector's settings under its rule id.
 */
import { z } from 'zod';
import { duration, optionalDuration } from '../config/duration.js';
import { DETECTORS } from './registry.js';
import { DEFAULT_REALERT_PER_RULE, RULE_IDS, RULES, type RuleId, SEVERITIES } from './rules.js';

export const SeveritySchema = z.enum(SEVERITIES);

export const ExceptionSchema = z
  .object({
    rule: z.union([z.enum(RULE_IDS), z.literal('*')]).describe('Rule id, or * for every rule.'),
    source: z
      .string()
      .default('*')
      .describe('Pattern on the source identity key, principal, namespace or workload.'),
    destination: z
      .string()
      .default('*')
      .describe('Host pattern ("*.example.com"); * matches alerts with no destination too.'),
    expires: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('After this (event) time the exception no longer applies.'),
    reason: z.string().min(1).describe('Why this is accepted; shown in the summary.'),
  })
  .strict();
export type DetectionException = z.infer<typeof ExceptionSchema>;

type DetectorsShape = { [K in keyof typeof DETECTORS]: z.ZodPrefault<(typeof DETECTORS)[K]['config']> };

/** One entry per detector, keyed by its name in the registry, each defaulted from its own schema. */
const DetectorsSchema = z
  .object(
    Object.fromEntries(
      Object.entries(DETECTORS).map(([name, spec]) => [name, spec.config.prefault({})]),
    ) as unknown as DetectorsShape,
  )
  .strict();

/** "24h for a, b; 6h for c": the built-in realert windows, for the settings' description. */
function builtInRealert(): string {
  const byWindow = new Map<string, string[]>();
  for (const r of RULES) {
    if (r.realert !== undefined) byWindow.set(r.realert, [...(byWindow.get(r.realert) ?? []), r.id]);
  }
  const others = RULES.filter((r) => r.realert === undefined).map((r) => r.id);
  return `${[...byWindow].map(([w, ids]) => `${w} for ${ids.join(', ')}`).join('; ')}; ${others.join(' and ')} use \`realert\``;
}

export const DetectionConfigSchema = z
  .object({
    lateness: duration(
      '5s',
      'Allowed lateness: events are held this long (event time, behind the newest of the slowest input partition) so shippers may deliver out of order; an event later than that is dead-lettered as late, never re-stamped.',
    ),
    idleTimeout: optionalDuration(
      "An input partition that is behind but delivers nothing for this long (wall time) stops holding the watermark (Flink's withIdleness, Kafka Streams' max.task.idle.ms); default: the Kafka source's sessionTimeoutMs + 10s.",
    ),
    maxBufferedEvents: z
      .number()
      .int()
      .positive()
      .default(500_000)
      .describe(
        'Events held for event-time order (while an input partition is behind) before the oldest are released early; events of that partition then arrive late.',
      ),
    maxKeys: z
      .number()
      .int()
      .positive()
      .default(200_000)
      .describe('Keys per state table; the least recently seen are evicted beyond it.'),
    maxKeysPerIdentity: z
      .number()
      .int()
      .positive()
      .default(50_000)
      .describe(
        "Keys one source identity may hold per state table; beyond it its own oldest go, so a workload flooding new destinations cannot evict the others' baselines.",
      ),
    learningPeriod: duration(
      '24h',
      'No anomaly findings (new destinations, spikes, beacons) until this long after the first event.',
    ),
    timezoneOffsetMinutes: z
      .number()
      .int()
      .min(-840)
      .max(840)
      .default(0)
      .describe('Local time for hour-of-day baselines.'),
    realert: duration(
      '1h',
      'Repeats of the same alert within this time are suppressed and counted on the standing alert (rules without an entry in realertPerRule).',
    ),
    realertPerRule: z
      .partialRecord(z.enum(RULE_IDS), duration('1h', 'Realert window of this rule.'))
      .default({})
      .transform(
        (perRule) => ({ ...DEFAULT_REALERT_PER_RULE, ...perRule }) as Partial<Record<RuleId, number>>,
      )
      .describe(`Realert window per rule id, over the built-in ones: ${builtInRealert()}.`),
    repeatUpdate: duration(
      '1h',
      'A standing alert that gathered repeats is re-emitted (same id, repeats so far) at most this often, so sinks see a continuing condition grow.',
    ),
    maxStandingAlerts: z
      .number()
      .int()
      .positive()
      .default(50_000)
      .describe(
        'Standing alerts (conditions inside their realert window) kept for de-duplication; beyond it the one closest to its end is closed early (counted in egress_sentinel_standing_alerts_evicted_total).',
      ),
    flood: z
      .object({
        distinctPerSource: z
          .number()
          .int()
          .positive()
          .default(20)
          .describe(
            "Distinct alerts one source may raise per rule within the rule's realert window; beyond it the rest become one flood alert with a count and examples.",
          ),
        examples: z.number().int().min(0).max(100).default(10).describe('Example keys a flood alert lists.'),
      })
      .strict()
      .prefault({})
      .describe('Many destinations from one source are one alert, not a storm.'),
    severity: z
      .partialRecord(z.enum(RULE_IDS), SeveritySchema)
      .default({})
      .describe('Severity per rule id, overriding the defaults.'),
    exceptions: z
      .array(ExceptionSchema)
      .default([])
      .describe('Accepted conditions: matching findings raise no alert and are counted per entry.'),
    detectors: DetectorsSchema.prefault({}),
  })
  .strict();

export type DetectionConfig = z.infer<typeof DetectionConfigSchema>;

export function defaultDetectionConfig(): DetectionConfig {
  return DetectionConfigSchema.parse({});
}
