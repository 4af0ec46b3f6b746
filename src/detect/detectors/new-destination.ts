/**
 * new-destination: an external host or registrable domain a source identity has not used before,
 * once both the pipeline and that identity are past the learning period. A new registrable domain
 * is one finding per domain; new hosts under a known domain are one finding per (identity, domain)
 * that counts repeats, so a burst of new hosts does not flood (high-cardinality-domain judges those).
 */
import { z } from 'zod';
import { duration } from '../../config/duration.js';
import { detachString } from '../../identity/mesh.js';
import type { EgressEvent } from '../../identity/types.js';
import { hostMatch } from '../../policy/match.js';
import type { PolicySet } from '../../policy/policy-set.js';
import { FirstSightFilter } from '../../sketch/first-sight.js';
import { type DetectorContext, type DetectorSpec, destName, eventFinding, type RuleSpec } from '../spec.js';
import { KeyTable } from '../state/key-table.js';
import { type DetectionState, isEgress } from '../state/store.js';
import type { Detector, Emit } from '../types.js';

export const NewDestinationConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
    learningPeriod: duration(
      '24h',
      'How long an identity is watched before its new destinations are reported.',
    ),
    hosts: z
      .boolean()
      .default(true)
      .describe('Report new hosts under a registrable domain the identity already uses.'),
    domainGrace: duration(
      '1h',
      'After a new domain is reported, its further new hosts are not reported for this long.',
    ),
    maxPerIdentity: z
      .number()
      .int()
      .positive()
      .default(4096)
      .describe(
        'Hosts and domains remembered per identity; beyond it a new name is remembered from its second sighting, in place of the oldest.',
      ),
    ignoreHosts: z
      .array(z.string())
      .default([])
      .describe('Host patterns ("*.example.com") never reported by this detector.'),
  })
  .strict();
export type NewDestinationConfig = z.infer<typeof NewDestinationConfigSchema>;

/** The rule it raises (see spec.ts). */
const RULE = {
  id: 'new-destination',
  name: 'New destination',
  severity: 'medium',
  severityNote: 'low for a new host under a registrable domain the identity already uses',
  realert: '24h',
  firesWhen:
    'a new registrable domain (medium) or a new host under a known domain (low) for a source identity, after learning',
} as const satisfies RuleSpec;

/**
 * What one identity used. A restore imports every identity and most are not seen again soon, so a
 * restored one keeps its names as the changelog bytes it came in (already checked) and builds the
 * map on first use: a Map and two strings per identity were a fifth of a restore's import.
 */
class Seen {
  private map: Map<string, number> | null;
  private raw: Buffer | null = null;
  private rawStart = 0;
  private rawEnd = 0;

  constructor(
    readonly firstSeen: number,
    names: Map<string, number> | null,
  ) {
    this.map = names;
  }

  /** A restored identity whose names are `raw[start..end)` in the exportIdentityBytes layout. */
  static restored(firstSeen: number, raw: Buffer, start: number, end: number): Seen {
    const s = new Seen(firstSeen, null);
    s.raw = raw;
    s.rawStart = start;
    s.rawEnd = end;
    return s;
  }

  /** host or `.domain` -> first seen time. */
  get names(): Map<string, number> {
    if (this.map === null) {
      this.map = decodeNames(this.raw as Buffer, this.rawStart);
      this.raw = null;
    }
    return this.map;
  }

  /**
   * The first name in insertion order (names are only appended, and deleted from the front), in
   * amortised O(1): one iterator is kept. `names.keys().next()` from scratch walks every slot
   * deleted since V8 last rehashed the map, O(maxPerIdentity) per new host in a flood.
   */
  oldest(): string | undefined {
    for (let tries = 0; tries < 2; tries++) {
      this.cold ??= this.names.keys();
      const next = this.cold.next();
      if (next.done !== true) return next.value;
      this.cold = null;
    }
    return undefined;
  }
  private cold: MapIterator<string> | null = null;

  /** The restored bytes while the names were never used (export copies them as they are). */
  rawBytes(): Buffer | null {
    return this.map === null ? (this.raw as Buffer).subarray(this.rawStart, this.rawEnd) : null;
  }
}

/** The names of checked exportIdentityBytes bytes at `start`. */
function decodeNames(b: Buffer, start: number): Map<string, number> {
  const names = new Map<string, number>();
  const count = b.readUInt32LE(start + 8);
  let o = start + 12;
  for (let i = 0; i < count; i++) {
    const nameEnd = o + 2 + b.readUInt16LE(o);
    names.set(b.toString('utf8', o + 2, nameEnd), b.readDoubleLE(nameEnd));
    o = nameEnd + 8;
  }
  return names;
}

export class NewDestinationDetector implements Detector {
  readonly ruleId = RULE.id;
  readonly table: KeyTable<Seen>;
  private domainOf: string | null = null;
  private domainKey: string | null = null;
  private readonly firstSights = new FirstSightFilter();
  /** Event time for `newSeen` (one function, not a closure per event). */
  private now = 0;
  private readonly newSeen = () => new Seen(this.now, new Map());

  constructor(
    private readonly config: NewDestinationConfig,
    private readonly state: DetectionState,
    private readonly policies: PolicySet,
    private readonly learningMs: number,
    maxKeys: number,
  ) {
    this.table = new KeyTable<Seen>('new-destination', maxKeys);
    state.register({
      name: 'new-destination',
      identities: () => [...this.table.entries()].map(([k]) => k),
      exportIdentity: (id) => {
        const s = this.table.get(id);
        return s === undefined ? undefined : { firstSeen: s.firstSeen, names: [...s.names] };
      },
      importIdentity: (id, data) => {
        const d = data as { firstSeen: number; names: [string, number][] };
        this.table.set(id, new Seen(d.firstSeen, new Map(d.names)));
      },
      deleteIdentity: (id) => this.table.delete(id),
      // f64 firstSeen, u32 count, per name: u16 length, name (UTF-8), f64 first seen.
      exportIdentityBytes: (id) => {
        const s = this.table.get(id);
        if (s === undefined) return undefined;
        const raw = s.rawBytes();
        if (raw !== null) return Buffer.from(raw);
        let size = 12;
        for (const name of s.names.keys()) size += 10 + Buffer.byteLength(name, 'utf8');
        const out = Buffer.allocUnsafe(size);
        let o = out.writeDoubleLE(s.firstSeen, 0);
        o = out.writeUInt32LE(s.names.size, o);
        for (const [name, time] of s.names) {
          const length = out.write(name, o + 2, 'utf8');
          o = out.writeUInt16LE(length, o) + length;
          o = out.writeDoubleLE(time, o);
        }
        return out;
      },
      importIdentityBytes: (id, b, start, end, owned) => {
        if (start + 12 > end) throw new Error(`new-destination state of ${id} is truncated`);
        const count = b.readUInt32LE(start + 8);
        // Checked now (a restore fails on malformed bytes), decoded on first use when the bytes are
        // never written again; otherwise (a buffer the caller reuses) now.
        let o = start + 12;
        for (let i = 0; i < count; i++) {
          if (o + 2 > end) throw new Error(`new-destination state of ${id} is truncated`);
          o += 2 + b.readUInt16LE(o) + 8;
          if (o > end) throw new Error(`new-destination state of ${id} is truncated`);
        }
        const firstSeen = b.readDoubleLE(start);
        this.table.set(
          id,
          owned === true ? Seen.restored(firstSeen, b, start, o) : new Seen(firstSeen, decodeNames(b, start)),
        );
      },
    });
  }

  observe(event: EgressEvent, emit: Emit): void {
    if (!isEgress(event) || !event.destination.external || this.state.redundant) return;
    const id = event.source.key;
    this.now = event.time;
    const seen = this.table.touch(id, event.time, this.newSeen);
    const host = destName(event);
    const domain = event.destination.registeredDomain;
    // Reused while consecutive new names share a domain (a fresh string is hashed on every lookup).
    if (domain !== this.domainOf) {
      this.domainOf = domain;
      this.domainKey = domain === null ? null : `.${domain}`;
    }
    const domainKey = this.domainKey;
    const known = seen.names.get(host);
    if (known !== undefined) {
      // At its quota (names go oldest first), a name in use, and its domain, go to the back.
      if (seen.names.size >= this.config.maxPerIdentity) {
        this.refresh(seen, host, known);
        const d = domainKey === null ? undefined : seen.names.get(domainKey);
        if (d !== undefined) this.refresh(seen, domainKey as string, d);
      }
      return;
    }
    const domainFirst = domainKey === null ? undefined : seen.names.get(domainKey);
    this.remember(seen, host, event.time);
    if (domainKey !== null && domainFirst === undefined) this.remember(seen, domainKey, event.time);

    const learnedAt = Math.max(
      this.state.startTime + this.learningMs,
      seen.firstSeen + this.config.learningPeriod,
    );
    if (event.time < learnedAt) return;
    if (this.config.ignoreHosts.some((p) => hostMatch(p, host))) return;
    const allowed = this.policies.empty ? null : this.policies.decideEvent(event).verdict;
    const policyNote =
      allowed === 'allow' ? ' (allowed by policy)' : allowed === 'deny' ? ' (not allowed by policy)' : '';
    if (domainKey !== null && domainFirst === undefined) {
      emit(
        eventFinding(
          event,
          this.ruleId,
          RULE.severity,
          `${id} -> ${domain}`,
          `${id} reached ${host}, under registrable domain ${domain}, which it has never used before${policyNote}.`,
          {
            novelty: 'registrable-domain',
            knownDestinations: seen.names.size,
            policyVerdict: allowed,
          },
        ),
      );
      return;
    }
    if (!this.config.hosts) return;
    if (
      domainFirst !== undefined &&
      event.time - domainFirst < this.config.domainGrace &&
      domainFirst >= learnedAt
    )
      return;
    emit(
      eventFinding(
        event,
        this.ruleId,
        'low',
        `${id} -> new host under ${domain ?? host}`,
        `${id} reached ${host}, a host it has never used before${domain === null ? '' : ` under ${domain}, which it already uses`}${policyNote}.`,
        { novelty: 'host', knownDestinations: seen.names.size, policyVerdict: allowed },
      ),
    );
  }

  private refresh(seen: Seen, name: string, firstSeen: number): void {
    seen.names.delete(name);
    seen.names.set(detachString(name), firstSeen);
  }

  private remember(seen: Seen, name: string, time: number): void {
    if (seen.names.size >= this.config.maxPerIdentity) {
      // At its quota (a source flooding names): a name is remembered from its second sighting, so
      // names used once do not push out the ones in use, and cost no eviction (its first sighting
      // is judged new all the same; a second one is then judged new again, a repeat of its alert).
      if (this.firstSights.firstSight(name)) return;
      const oldest = seen.oldest();
      if (oldest !== undefined) seen.names.delete(oldest);
    }
    // A copy: the name is a slice of its line, which would otherwise be kept as long as the name.
    seen.names.set(detachString(name), time);
  }

  advance(): void {}

  stateSize(): number {
    return this.table.size;
  }
}

export const newDestinationSpec: DetectorSpec<NewDestinationConfig, typeof RULE.id> = {
  rules: [RULE],
  summary: 'A host or registrable domain a source has not used before, after learning.',
  config: NewDestinationConfigSchema,
  create: (config, ctx: DetectorContext) => {
    const d = new NewDestinationDetector(config, ctx.state, ctx.policies, ctx.learningPeriodMs, ctx.maxKeys);
    ctx.trackTable(d.table as KeyTable<unknown>);
    return d;
  },
};
