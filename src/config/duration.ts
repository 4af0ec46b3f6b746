import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "5s", "30m", "24h", "7d", "250ms" into milliseconds; NaN when malformed. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (m === null) return Number.NaN;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/** Milliseconds of a config value (a number as is, a string parsed); an issue naming it when malformed. */
function toMs(value: number | string, ctx: z.RefinementCtx): number {
  const ms = typeof value === 'number' ? value : parseDuration(value);
  if (!Number.isNaN(ms)) return ms;
  ctx.addIssue({
    code: 'custom',
    message: `expected a duration such as "30s", "5m" or "24h", got "${String(value)}"`,
  });
  return z.NEVER;
}

/** A duration in config: a number of milliseconds or a string such as "30m"; parsed to milliseconds. */
export function duration(defaultValue: string, description: string) {
  return z
    .union([z.number().nonnegative(), z.string()])
    .default(defaultValue)
    .transform(toMs)
    .describe(description);
}

/** An optional duration in config (as `duration`, without a default): undefined when not set. */
export function optionalDuration(description: string) {
  return z
    .union([z.number().nonnegative(), z.string()])
    .optional()
    .transform((value, ctx) => (value === undefined ? undefined : toMs(value, ctx)))
    .describe(description);
}
