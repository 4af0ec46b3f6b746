/**
 * The detection state shared by detectors: rolling baselines per (identity, host), per (identity,
 * registrable domain) and per identity over all its external destinations (in the domain table
 * under the name TOTAL), plus any per-identity parts detectors register (first-seen sets,
 * beacon tracks). Everything can be exported and imported per source identity key (the format is
 * codec.ts), which is how `--state DIR` saves it and how the scale-out work checkpoints it per Kafka
 * partition.
 */
import type { EgressEvent } from '../../identity/types.js';
import { isJoinedGatewayLeg } from '../join.js';
import { type Baseline, BaselinePool } from './baseline.js';
import { StateCodec } from './codec.js';
import { KeyTable } from './key-table.js';

/** Separates identity and destination in table keys (never appears in either). */
export const KEY_SEP = '\u0001';
/**
 * The domain-table name of an identity's total over all its external destinations (no destination
 * has an empty name: an empty one is kept as "?").
 */
export const TOTAL = '';

/** Per-identity state a detector keeps and wants saved with the baselines. */
export interface PersistentPart {
  readonly name: string;
  identities(): Iterable<string>;
  /** JSON-serialisable state of one identity, or undefined when it has none. */
  exportIdentity(identity: string): unknown;
  importIdentity(identity: string, data: unknown): void;
  /** Forgets the identity (its state was superseded by a version without this part, or deleted). */
  deleteIdentity(identity: string): void;
  /**
   * Optional binary form of `exportIdentity` / `importIdentity` for changelogs: a restore imports
   * every identity, and JSON parsing was a third of it. `importIdentityBytes` reads
   * `from[start..end)` and throws on malformed bytes; `owned`: `from` is never written again, so the
   * part may keep it (e.g. to decode on first use) instead of decoding or copying now.
   */
  exportIdentityBytes?(identity: string): Buffer | undefined;
  importIdentityBytes?(identity: string, from: Buffer, start: number, end: number, owned?: boolean): void;
}

export interface StateOptions {
  maxKeys: number;
  tzOffsetMs: number;
  /** Keys per identity in each table (default: no limit below maxKeys). */
  maxKeysPerIdentity?: number;
}

/** The destination name used in keys: host, else IP, else "?". */
export function destinationName(event: EgressEvent): string {
  return event.destination.host ?? event.destination.ip ?? '?';
}

/** Whether an event is egress that happened (baselines ignore in-mesh, inbound and dropped traffic). */
export function isEgress(event: EgressEvent): boolean {
  const p = event.path;
  return (
    p === 'sidecar-to-gateway' ||
    p === 'gateway-to-external' ||
    p === 'passthrough' ||
    p === 'direct-external'
  );
}

export class DetectionState {
  readonly hosts: KeyTable<Baseline>;
  readonly domains: KeyTable<Baseline>;
  private readonly parts: PersistentPart[] = [];
  /**
   * The baselines the current event updated (valid during `observe` of detectors); the host's and
   * the domain's are null for a name its source, at its quota, uses for the first time.
   */
  currentHost: Baseline | null = null;
  currentDomain: Baseline | null = null;
  /** The identity's total over all its external destinations. */
  currentTotal: Baseline | null = null;
  currentHostKey = '';
  currentDomainKey = '';
  /** The identity and domain `currentDomainKey` and `totalKey` were built for (see observe). */
  private keysOf: string | null = null;
  private domainOf: string | null = null;
  private totalKey = '';
  /** Event time of the first event ever seen (kept across restarts): the global learning clock. */
  startTime = Number.NaN;
  /**
   * The current event is a gateway leg joined to its sidecar's leg (detect/join.ts): per-identity
   * detectors judge the sidecar's leg, which carries this leg's destination, so one connection counts
   * once and a stale pod-IP attribution at the gateway (IPs are reused) cannot invent an identity.
   * A gateway leg no sidecar leg was found for is the only record of its connection: judged itself.
   */
  redundant = false;
  private readonly pool = new BaselinePool();
  /** Export and import per identity (the save format). */
  private readonly codec: StateCodec;
  private readonly newBaseline = () => this.pool.alloc();

  constructor(readonly options: StateOptions) {
    // Grouped by identity: export/import of one identity is O(its entries), not O(table).
    const release = (b: Baseline) => this.pool.release(b);
    const perIdentity = options.maxKeysPerIdentity ?? Number.POSITIVE_INFINITY;
    this.hosts = new KeyTable<Baseline>(
      'identity-host',
      options.maxKeys,
      KEY_SEP,
      release,
      true,
      perIdentity,
    );
    // The domain table also holds the identity's total: one more.
    this.domains = new KeyTable<Baseline>(
      'identity-domain',
      options.maxKeys,
      KEY_SEP,
      release,
      true,
      perIdentity + 1,
    );
    this.codec = new StateCodec(this.hosts, this.domains, this.parts);
  }

  register(part: PersistentPart): void {
    this.parts.push(part);
  }

  observe(event: EgressEvent): void {
    if (Number.isNaN(this.startTime)) this.startTime = event.time;
    this.currentHost = null;
    this.currentDomain = null;
    this.currentTotal = null;
    this.redundant = isJoinedGatewayLeg(event);
    if (this.redundant || !isEgress(event) || !event.destination.external) return;
    const id = event.source.key;
    const host = destinationName(event);
    const domain = event.destination.registeredDomain ?? host;
    this.currentHostKey = id + KEY_SEP + host;
    // The domain and total keys of the previous event are reused when they are the same (a string
    // built afresh is flattened and hashed again on every lookup; consecutive lines of one source
    // often share a domain, and a flood of one domain's hosts always does).
    if (id !== this.keysOf) {
      this.keysOf = id;
      this.totalKey = id + KEY_SEP + TOTAL;
      this.domainOf = null;
    }
    if (domain !== this.domainOf) {
      this.domainOf = domain;
      this.currentDomainKey = id + KEY_SEP + (domain === TOTAL ? '?' : domain);
    }
    const tz = this.options.tzOffsetMs;
    // A source at its quota gets a host or domain baseline for a new name on its second line (a
    // flood of names used once creates none); the total always counts.
    const h = this.hosts.touchInGroup(id, this.currentHostKey, event.time, this.newBaseline);
    h?.add(event.time, tz, 1, event.bytesUp);
    const d = this.domains.touchInGroup(id, this.currentDomainKey, event.time, this.newBaseline);
    d?.add(event.time, tz, 1, event.bytesUp);
    const t = this.domains.touch(this.totalKey, event.time, this.newBaseline);
    t.add(event.time, tz, 1, event.bytesUp);
    this.currentHost = h;
    this.currentDomain = d;
    this.currentTotal = t;
  }

  /** Every identity that has any state. */
  keys(): string[] {
    const ids = new Set<string>();
    for (const id of this.hosts.groupNames()) ids.add(id);
    for (const id of this.domains.groupNames()) ids.add(id);
    for (const part of this.parts) for (const id of part.identities()) ids.add(id);
    return [...ids].sort();
  }

  /** Identities with at least one baseline. O(identities). */
  identityCount(): number {
    let n = this.hosts.groupCount;
    for (const id of this.domains.groupNames()) if (this.hosts.groupSize(id) === 0) n++;
    return n;
  }

  /** The state of one identity as a JSON string (baselines base64-encoded). O(its entries). */
  exportKey(identity: string): string {
    return this.codec.exportKey(identity);
  }

  /** Restores what `exportKey` produced (codec.ts), replacing whatever the identity had. */
  importKey(identity: string, text: string): void {
    this.codec.importKey(identity, text);
  }

  /** The state of one identity as bytes, for changelogs (the layout: codec.ts). */
  exportKeyBytes(identity: string): Buffer {
    return this.codec.exportKeyBytes(identity);
  }

  /** Restores what `exportKeyBytes` or `exportKey` produced; throws on malformed bytes (codec.ts). */
  importKeyBytes(identity: string, bytes: Uint8Array, owned = false): void {
    this.codec.importKeyBytes(identity, bytes, owned);
  }

  /** Forgets everything about one identity (a changelog tombstone). O(its entries). */
  deleteKey(identity: string): void {
    this.hosts.deleteGroup(identity);
    this.domains.deleteGroup(identity);
    for (const part of this.parts) part.deleteIdentity(identity);
  }
}
