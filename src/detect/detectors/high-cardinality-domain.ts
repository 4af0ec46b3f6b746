/**
 * high-cardinality-domain: many distinct random-looking subdomains of one registrable domain from one
 * identity within a window: data smuggled in host names (DNS-tunnel style) or a DGA. A subdomain
 * looks random when it is long, has high character entropy and mixes character classes the way
 * encoded data does (not `www`, `api-eu-west-1`, `login`).
 */
import { z } from 'zod';
import { duration } from '../../config/duration.js';
import type { EgressEvent } from '../../identity/types.js';
import { hostMatch } from '../../policy/match.js';
import { type DetectorSpec, eventFinding, type RuleSpec } from '../spec.js';
import { KeyTable } from '../state/key-table.js';
import { type DetectionState, KEY_SEP } from '../state/store.js';
import type { Detector, Emit } from '../types.js';

export const HighCardinalityDomainConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
    window: duration('5m', 'Window in which distinct random-looking subdomains are counted.'),
    minDistinct: z
      .number()
      .int()
      .positive()
      .default(20)
      .describe('Distinct random-looking subdomains that raise a finding.'),
    minLength: z.number().int().positive().default(8).describe('Shorter subdomains never look random.'),
    minEntropy: z
      .number()
      .positive()
      .default(3.0)
      .describe('Shannon entropy (bits per character) of a random-looking subdomain.'),
    ignoreDomains: z
      .array(z.string())
      .default([])
      .describe('Registrable domain patterns with legitimately random hosts (CDNs).'),
  })
  .strict();
export type HighCardinalityDomainConfig = z.infer<typeof HighCardinalityDomainConfigSchema>;

/** The rule it raises (see spec.ts). */
const RULE = {
  id: 'high-cardinality-domain',
  name: 'High-cardinality domain',
  severity: 'high',
  realert: '6h',
  firesWhen:
    'at least `minDistinct` random-looking subdomains (length, entropy, character classes) of one domain within `window`',
} as const satisfies RuleSpec;

export function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Random-looking score inputs: long, high entropy, and either digits mixed into letters or few vowels. */
export function looksRandom(subdomain: string, minLength: number, minEntropy: number): boolean {
  const s = subdomain.toLowerCase().replace(/[.-]/g, '');
  if (s.length < minLength) return false;
  if (shannonEntropy(s) < minEntropy) return false;
  let digits = 0;
  let vowels = 0;
  let switches = 0;
  let prevDigit: boolean | null = null;
  for (const ch of s) {
    const isDigit = ch >= '0' && ch <= '9';
    if (isDigit) digits++;
    else if ('aeiouy'.includes(ch)) vowels++;
    if (prevDigit !== null && prevDigit !== isDigit) switches++;
    prevDigit = isDigit;
  }
  const letters = s.length - digits;
  return (
    (digits > 0 && letters > 0 && switches >= 3) ||
    (letters > 0 && vowels / letters < 0.2) ||
    digits / s.length > 0.5
  );
}

interface Track {
  /** Random-looking host -> last time seen. */
  hosts: Map<string, number>;
  lastFired: number;
}

export class HighCardinalityDomainDetector implements Detector {
  readonly ruleId = RULE.id;
  readonly table: KeyTable<Track>;

  constructor(
    private readonly config: HighCardinalityDomainConfig,
    private readonly state: DetectionState,
    maxKeys: number,
  ) {
    this.table = new KeyTable<Track>('high-cardinality-domain', maxKeys);
  }

  observe(event: EgressEvent, emit: Emit): void {
    const { host, registeredDomain: domain } = event.destination;
    if (host === null || domain === null || !event.destination.external || host.length <= domain.length + 1)
      return;
    if (event.path === 'internal' || event.path === 'inbound' || this.state.redundant) return;
    const sub = host.slice(0, host.length - domain.length - 1);
    if (!looksRandom(sub, this.config.minLength, this.config.minEntropy)) return;
    if (this.config.ignoreDomains.some((p) => hostMatch(p, domain))) return;
    const key = event.source.key + KEY_SEP + domain;
    const t = this.table.touch(key, event.time, () => ({
      hosts: new Map(),
      lastFired: Number.NEGATIVE_INFINITY,
    }));
    t.hosts.delete(host);
    t.hosts.set(host, event.time);
    const since = event.time - this.config.window;
    for (const [h, time] of t.hosts) {
      if (time >= since && t.hosts.size <= this.config.minDistinct * 4) break;
      t.hosts.delete(h);
    }
    if (t.hosts.size >= this.config.minDistinct && event.time - t.lastFired >= this.config.window) {
      t.lastFired = event.time;
      emit(
        eventFinding(
          event,
          this.ruleId,
          RULE.severity,
          `${event.source.key} -> *.${domain}`,
          `${event.source.key} reached ${t.hosts.size} distinct random-looking subdomains of ${domain} within ${Math.round(this.config.window / 60_000)} minutes.`,
          { distinct: t.hosts.size, windowMs: this.config.window, samples: [...t.hosts.keys()].slice(-5) },
        ),
      );
    }
  }

  advance(watermark: number): void {
    for (const [key, entry] of this.table.entries()) {
      let last = Number.NEGATIVE_INFINITY;
      for (const time of entry.value.hosts.values()) last = time;
      if (last < watermark - this.config.window) this.table.delete(key);
      else break;
    }
  }

  stateSize(): number {
    return this.table.size;
  }
}

export const highCardinalityDomainSpec: DetectorSpec<HighCardinalityDomainConfig, typeof RULE.id> = {
  rules: [RULE],
  summary: 'Many distinct random-looking subdomains of one registrable domain from one identity.',
  config: HighCardinalityDomainConfigSchema,
  create: (config, ctx) => {
    const d = new HighCardinalityDomainDetector(config, ctx.state, ctx.maxKeys);
    ctx.trackTable(d.table as KeyTable<unknown>);
    return d;
  },
};
