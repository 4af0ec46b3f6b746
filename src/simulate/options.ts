/** Parsing of `simulate`'s command-line values into SimulateOptions, with errors naming the flag. */
import { SentinelError } from '../errors.js';
import { DATAPLANES, type Dataplane } from './ambient.js';
import { ATTACK_NAMES, type AttackName } from './attacks.js';
import { ENVELOPES, type EnvelopeName } from './envelope.js';
import type { LogFormat } from './render.js';

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `90s`, `30m`, `6h`, `1d`, `1.5d`, `2w`. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (match === null)
    throw new SentinelError(
      'ESN_INPUT',
      `Expected ${flag} as a duration such as 30m, 6h or 1d, got "${text}".`,
      { where: flag },
    );
  const value = Number(match[1]) * (UNITS[match[2] as string] as number);
  if (value <= 0)
    throw new SentinelError('ESN_INPUT', `Expected ${flag} above zero, got "${text}".`, { where: flag });
  return value;
}

/** An ISO 8601 time, or `now` / `now-1d` (relative to the clock, rounded down to the minute). */
export function parseTime(text: string, flag: string): number {
  const relative = /^now(?:-(.+))?$/.exec(text.trim());
  if (relative !== null) {
    const back = relative[1] === undefined ? 0 : parseDuration(relative[1], flag);
    return Math.floor((Date.now() - back) / 60_000) * 60_000;
  }
  const value = Date.parse(text);
  if (Number.isNaN(value))
    throw new SentinelError(
      'ESN_INPUT',
      `Expected ${flag} as an ISO 8601 time such as 2025-03-03T00:00:00Z (or now-1d), got "${text}".`,
      { where: flag },
    );
  return value;
}

export function parseAttacks(text: string): AttackName[] {
  if (text.trim() === '' || text === 'none') return [];
  if (text === 'all') return [...ATTACK_NAMES];
  const names = text.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(ATTACK_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new SentinelError(
      'ESN_INPUT',
      `Unknown attack ${unknown.map((u) => `"${u}"`).join(', ')} in --attack; choose from ${ATTACK_NAMES.join(', ')} or all.`,
      { where: '--attack' },
    );
  }
  return names as AttackName[];
}

export function parseFormat(text: string): LogFormat {
  if (text === 'text' || text === 'json') return text;
  throw new SentinelError('ESN_INPUT', `Expected --format text or json, got "${text}".`, {
    where: '--format',
  });
}

export function parseEnvelope(text: string): EnvelopeName {
  if ((ENVELOPES as readonly string[]).includes(text)) return text as EnvelopeName;
  throw new SentinelError('ESN_INPUT', `Expected --envelope ${ENVELOPES.join(', ')}; got "${text}".`, {
    where: '--envelope',
  });
}

export function parseRate(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new SentinelError(
      'ESN_INPUT',
      `Expected --rate as a positive number of requests per minute at peak, got "${text}".`,
      { where: '--rate' },
    );
  return value;
}

export function parseDataplane(text: string): Dataplane {
  if ((DATAPLANES as readonly string[]).includes(text)) return text as Dataplane;
  throw new SentinelError('ESN_INPUT', `Expected --dataplane ${DATAPLANES.join(', ')}; got "${text}".`, {
    where: '--dataplane',
  });
}
