/**
 * The detection state shared by detectors: rolling baselines per (identity, host), per (identity,
 * registrable domain) and per identity over all its external destinations (in the domain table
 * under the name TOTAL), plus any per-identity parts detectors register (first-seen sets,
 * beacon tracks). Everything can be exported and imported per source identity key, which is how
 * `--state DIR` saves it and how the scale-out work checkpoints it per Kafka partition.
 */
import type { EgressEvent } from '../../identity/types.js';
import { isJoinedGatewayLeg } from '../join.js';
import { BASELINE_BYTES, Baseline, BaselineChunk, BaselinePool, LEGACY_BASELINE_BYTES } from './baseline.js';
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

interface ExportedState {
  v: 1;
  hosts: Record<string, string>;
  domains: Record<string, string>;
  parts: Record<string, unknown>;
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
  /** The shared buffer restored baselines are being copied into, and how much of it is used. */
  private slab: BaselineChunk = EMPTY_SLAB;
  private slabUsed = 0;
  /** The views restored baselines used in place share (the buffer the last owned bytes came in). */
  private ownedChunk: BaselineChunk = EMPTY_SLAB;
  private readonly pool = new BaselinePool();
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
    const out: ExportedState = { v: 1, hosts: {}, domains: {}, parts: {} };
    for (const [name, table] of [
      ['hosts', this.hosts],
      ['domains', this.domains],
    ] as const) {
      for (const [dest, entry] of table.group(identity))
        out[name][dest] = Buffer.from(entry.value.bytes).toString('base64');
    }
    for (const part of this.parts) {
      const data = part.exportIdentity(identity);
      if (data !== undefined) out.parts[part.name] = data;
    }
    return JSON.stringify(out);
  }

  /** Forgets everything about one identity (a changelog tombstone). O(its entries). */
  deleteKey(identity: string): void {
    this.hosts.deleteGroup(identity);
    this.domains.deleteGroup(identity);
    for (const part of this.parts) part.deleteIdentity(identity);
  }

  /**
   * Restores what `exportKey` produced, replacing whatever the identity had (a later changelog
   * version wins); throws on a malformed state string.
   */
  importKey(identity: string, text: string): void {
    const data = JSON.parse(text) as ExportedState;
    if (data.v !== 1 || typeof data.hosts !== 'object' || typeof data.domains !== 'object') {
      throw new Error(`unsupported state for ${identity}`);
    }
    this.hosts.deleteGroup(identity);
    this.domains.deleteGroup(identity);
    for (const [name, table] of [
      ['hosts', this.hosts],
      ['domains', this.domains],
    ] as const) {
      for (const [dest, b64] of Object.entries(data[name])) {
        const bytes = Buffer.from(b64, 'base64');
        if (bytes.length !== BASELINE_BYTES && bytes.length !== LEGACY_BASELINE_BYTES)
          throw new Error(
            `baseline for ${identity} -> ${dest} has ${bytes.length} bytes, expected ${BASELINE_BYTES}`,
          );
        const baseline = this.restoredBaseline(bytes, 0, bytes.length);
        table.setInGroup(identity, dest, baseline, Math.floor(baseline.lastSeen / 60_000));
      }
    }
    for (const part of this.parts) {
      const partData = data.parts?.[part.name];
      if (partData !== undefined) part.importIdentity(identity, partData);
      else part.deleteIdentity(identity);
    }
  }

  /**
   * The state of one identity as bytes, for changelogs: the baselines' own bytes (no base64, no
   * JSON around them) and the detectors' parts. Layout (version 4; version 3 is the same with
   * baselines of LEGACY_BASELINE_BYTES, converted on reading): u8 4, u32 host count H, u32
   * domain count D, H + D names (u16 length, UTF-8), u32 length of the parts section, per part with
   * state: u8 name length, name (ASCII), u8 encoding (0 JSON, 1 the part's own bytes), u32 length,
   * data; then the H + D baselines back to back, BASELINE_BYTES each, at the end (one copy restores
   * them all). Readers also take version 2 (names and baselines interleaved, the parts as one JSON
   * object) and the JSON export (starts with '{').
   */
  exportKeyBytes(identity: string): Buffer {
    const hosts = this.hosts.group(identity);
    const domains = this.domains.group(identity);
    const names: Buffer[] = [];
    let size = 1 + 4 + 4 + 4;
    for (const entries of [hosts, domains])
      for (const [dest] of entries) {
        const name = Buffer.from(dest, 'utf8');
        names.push(name);
        size += 2 + name.length + BASELINE_BYTES;
      }
    const parts: [PersistentPart, number, Buffer][] = [];
    let partsSize = 0;
    for (const part of this.parts) {
      let data: Buffer | undefined;
      let encoding = PART_BYTES;
      if (part.exportIdentityBytes !== undefined) data = part.exportIdentityBytes(identity);
      else {
        const json = part.exportIdentity(identity);
        if (json !== undefined) data = Buffer.from(JSON.stringify(json), 'utf8');
        encoding = PART_JSON;
      }
      if (data === undefined) continue;
      parts.push([part, encoding, data]);
      partsSize += 1 + part.name.length + 1 + 4 + data.length;
    }
    const out = Buffer.allocUnsafe(size + partsSize);
    let o = out.writeUInt8(4, 0);
    o = out.writeUInt32LE(hosts.length, o);
    o = out.writeUInt32LE(domains.length, o);
    for (const name of names) {
      o = out.writeUInt16LE(name.length, o);
      o += name.copy(out, o);
    }
    o = out.writeUInt32LE(partsSize, o);
    for (const [part, encoding, data] of parts) {
      o = out.writeUInt8(part.name.length, o);
      o += out.write(part.name, o, 'latin1');
      o = out.writeUInt8(encoding, o);
      o = out.writeUInt32LE(data.length, o);
      o += data.copy(out, o);
    }
    for (const entries of [hosts, domains])
      for (const [, entry] of entries) {
        out.set(entry.value.bytes, o);
        o += BASELINE_BYTES;
      }
    return out;
  }

  /**
   * Restores what `exportKeyBytes` (or, for old changelogs, `exportKey`) produced, replacing whatever
   * the identity had: a changelog restore imports every version in offset order, so the latest wins
   * (baselines and parts the newer version no longer has are dropped). Checks the bytes before it
   * changes anything; throws on malformed ones. `owned`: the caller never writes these bytes again,
   * so baselines that are aligned for a Float64Array are used in place instead of copied (their
   * buffer then stays alive while any of them does).
   */
  importKeyBytes(identity: string, bytes: Uint8Array, owned = false): void {
    if (bytes[0] === 0x7b) {
      this.importKey(identity, Buffer.from(bytes).toString('utf8'));
      return;
    }
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (b.length >= 13 && b[0] === 4) this.importV3(identity, b, owned, BASELINE_BYTES);
    else if (b.length >= 13 && b[0] === 3) this.importV3(identity, b, false, LEGACY_BASELINE_BYTES);
    else if (b.length >= 13 && b[0] === 2) this.importV2(identity, b);
    else throw new Error(`unsupported binary state for ${identity}`);
  }

  /** A baseline restored from `from[start..start+size)` (this layout, or converted from the legacy one). */
  private restoredBaseline(from: Uint8Array, start: number, size: number): Baseline {
    if (this.slabUsed + BASELINE_BYTES > this.slab.buffer.byteLength) {
      this.slab = new BaselineChunk(new ArrayBuffer(RESTORE_SLAB_BYTES));
      this.slabUsed = 0;
    }
    const at = this.slabUsed;
    this.slabUsed += BASELINE_BYTES;
    if (size === LEGACY_BASELINE_BYTES) return Baseline.fromLegacy(from, start, this.slab, at);
    this.slab.u8.set(from.subarray(start, start + BASELINE_BYTES), at);
    return new Baseline(this.slab, at);
  }

  private importV3(identity: string, b: Buffer, owned: boolean, size: number): void {
    const hostCount = b.readUInt32LE(1);
    const count = hostCount + b.readUInt32LE(5);
    const baselinesAt = b.length - count * size;
    let o = 9;
    for (let k = 0; k < count && o <= baselinesAt; k++)
      o += 2 + (o + 2 <= baselinesAt ? b.readUInt16LE(o) : 0);
    if (o + 4 > baselinesAt || o + 4 + b.readUInt32LE(o) !== baselinesAt)
      throw new Error(`binary state for ${identity} is truncated`);
    const hostsAbsent = this.hosts.deleteGroup(identity) === 0;
    const domainsAbsent = this.domains.deleteGroup(identity) === 0;
    let shared: BaselineChunk;
    let at: number;
    if (size !== BASELINE_BYTES) {
      // Legacy layout: converted one by one below.
      shared = EMPTY_SLAB;
      at = 0;
    } else if (owned && (b.byteOffset + baselinesAt) % 8 === 0) {
      // In place: one set of views per buffer the bytes come in, shared by its baselines.
      if (this.ownedChunk.buffer !== b.buffer) this.ownedChunk = new BaselineChunk(b.buffer);
      shared = this.ownedChunk;
      at = b.byteOffset + baselinesAt;
    } else {
      // All baselines with one copy into the current restore slab.
      const need = count * BASELINE_BYTES;
      if (this.slabUsed + need > this.slab.buffer.byteLength) {
        this.slab = new BaselineChunk(new ArrayBuffer(Math.max(RESTORE_SLAB_BYTES, need)));
        this.slabUsed = 0;
      }
      shared = this.slab;
      at = this.slabUsed;
      if (count > 0) b.copy(this.slab.u8, at, baselinesAt, b.length);
      this.slabUsed = at + need;
    }
    // Table keys (identity + KEY_SEP + name) are decoded in one piece from a scratch buffer holding
    // the identity, the separator and the name: no name string, no concatenation to flatten. Only
    // for an ASCII identity, whose UTF-8 bytes decode back to exactly the same string.
    let prefix = -1;
    if (identity.length <= 256) {
      prefix = keyScratch.write(identity, 0, 'utf8');
      if (prefix !== identity.length) prefix = -1;
      else keyScratch[prefix++] = 1; // KEY_SEP
    }
    o = 9;
    let hostsNew = hostsAbsent;
    let domainsNew = domainsAbsent;
    for (let k = 0; k < count; k++) {
      const length = b.readUInt16LE(o);
      const baseline =
        size === BASELINE_BYTES
          ? new Baseline(shared, at)
          : this.restoredBaseline(b, baselinesAt + k * size, size);
      at += BASELINE_BYTES;
      const table = k < hostCount ? this.hosts : this.domains;
      const minute = Math.floor(baseline.lastSeen / 60_000);
      if (prefix >= 0 && prefix + length <= keyScratch.length) {
        for (let i = 0; i < length; i++) keyScratch[prefix + i] = b[o + 2 + i] as number;
        const key = keyScratch.toString('utf8', 0, prefix + length);
        if (k < hostCount) table.setGroupKey(identity, key, baseline, minute, hostsAbsent, hostsNew);
        else table.setGroupKey(identity, key, baseline, minute, domainsAbsent, domainsNew);
      } else table.setInGroup(identity, b.toString('utf8', o + 2, o + 2 + length), baseline, minute);
      // Only the first key of a group just deleted starts it afresh (see KeyTable.setGroupKey).
      if (k < hostCount) hostsNew = false;
      else domainsNew = false;
      o += 2 + length;
    }
    this.importParts(identity, b, o + 4, baselinesAt, owned);
  }

  /** Parts as written by version 3: b[start..end). */
  private importParts(identity: string, b: Buffer, start: number, end: number, owned: boolean): void {
    // Parts are written in registration order: `next` follows it, so the usual case finds each
    // part where expected; parts absent from this version lose what they had of the identity.
    let next = 0;
    let o = start;
    while (o < end) {
      const nameLength = b.readUInt8(o);
      if (o + 1 + nameLength + 5 > end) throw new Error(`binary state for ${identity} is truncated`);
      const nameAt = o + 1;
      o += 1 + nameLength;
      const encoding = b.readUInt8(o);
      const dataEnd = o + 5 + b.readUInt32LE(o + 1);
      o += 5;
      if (dataEnd > end)
        throw new Error(
          `binary state for ${identity} is truncated (part ${partName(b, nameAt, nameLength)})`,
        );
      // The name is compared in place (no string per record): the expected part first.
      let at = next;
      while (at < this.parts.length && !nameIs(this.parts[at] as PersistentPart, b, nameAt, nameLength)) at++;
      if (at === this.parts.length) {
        const name = partName(b, nameAt, nameLength);
        at = this.parts.findIndex((p) => p.name === name);
      }
      // A part of a detector this pipeline does not run is skipped.
      if (at >= 0) {
        for (let skipped = next; skipped < at; skipped++)
          (this.parts[skipped] as PersistentPart).deleteIdentity(identity);
        const part = this.parts[at] as PersistentPart;
        if (encoding === PART_JSON) part.importIdentity(identity, JSON.parse(b.toString('utf8', o, dataEnd)));
        else if (encoding === PART_BYTES && part.importIdentityBytes !== undefined)
          part.importIdentityBytes(identity, b, o, dataEnd, owned);
        else
          throw new Error(
            `binary state for ${identity}: part ${part.name} has an unknown encoding ${encoding}`,
          );
        if (at >= next) next = at + 1;
      }
      o = dataEnd;
    }
    for (let rest = next; rest < this.parts.length; rest++)
      (this.parts[rest] as PersistentPart).deleteIdentity(identity);
  }

  /** Version 2: per table u32 count, per entry u16 name length, name, baseline; u32 + parts JSON. */
  private importV2(identity: string, b: Buffer): void {
    let o = 1;
    for (let t = 0; t < 2; t++) {
      if (o + 4 > b.length) throw new Error(`binary state for ${identity} is truncated`);
      const count = b.readUInt32LE(o);
      o += 4;
      for (let k = 0; k < count; k++) {
        if (o + 2 > b.length) throw new Error(`binary state for ${identity} is truncated`);
        o += 2 + b.readUInt16LE(o) + LEGACY_BASELINE_BYTES;
      }
    }
    if (o + 4 > b.length || o + 4 + b.readUInt32LE(o) > b.length)
      throw new Error(`binary state for ${identity} is truncated`);
    this.hosts.deleteGroup(identity);
    this.domains.deleteGroup(identity);
    o = 1;
    for (let t = 0; t < 2; t++) {
      const table = t === 0 ? this.hosts : this.domains;
      const count = b.readUInt32LE(o);
      o += 4;
      for (let k = 0; k < count; k++) {
        const length = b.readUInt16LE(o);
        const name = b.toString('utf8', o + 2, o + 2 + length);
        o += 2 + length;
        const baseline = this.restoredBaseline(b, o, LEGACY_BASELINE_BYTES);
        o += LEGACY_BASELINE_BYTES;
        table.setInGroup(identity, name, baseline, Math.floor(baseline.lastSeen / 60_000));
      }
    }
    const partsEnd = o + 4 + b.readUInt32LE(o);
    o += 4;
    const parts =
      partsEnd === o ? null : (JSON.parse(b.toString('utf8', o, partsEnd)) as Record<string, unknown>);
    for (const part of this.parts) {
      const partData = parts?.[part.name];
      if (partData !== undefined) part.importIdentity(identity, partData);
      else part.deleteIdentity(identity);
    }
  }
}

/** Whether `b[at..at+length)` is the (ASCII) name of `part`. */
function nameIs(part: PersistentPart, b: Buffer, at: number, length: number): boolean {
  const name = part.name;
  if (name.length !== length) return false;
  for (let i = 0; i < length; i++) if (name.charCodeAt(i) !== b[at + i]) return false;
  return true;
}

function partName(b: Buffer, at: number, length: number): string {
  return b.toString('latin1', at, at + length);
}

const PART_JSON = 0;
const PART_BYTES = 1;

/**
 * Restored baselines are copied into shared buffers of this size (about 230 baselines each) rather
 * than one ArrayBuffer each: an ArrayBuffer costs about 2.5 µs to allocate and collect, more than
 * the rest of a restored identity. A buffer is freed when all of its baselines are gone, so after a
 * restore this memory never exceeds what was restored, but it shrinks only as whole buffers empty.
 * Baselines created by traffic keep one buffer each (eviction churn would otherwise pin buffers).
 */
const RESTORE_SLAB_BYTES = 256 * 1024;

const EMPTY_SLAB = new BaselineChunk(new ArrayBuffer(0));
/** See importV3: an identity of up to 256 characters, the separator and a name. */
const keyScratch = Buffer.alloc(256 + 1 + 4096);
