/**
 * The save format of detection state, per source identity: a JSON export (the first format, still
 * read) and the binary one changelogs carry, with the readers of every older version. Reads and
 * writes the live tables of a DetectionState (store.ts) and the detectors' registered parts.
 */
import { BASELINE_BYTES, Baseline, BaselineChunk, LEGACY_BASELINE_BYTES } from './baseline.js';
import type { KeyTable } from './key-table.js';
import type { PersistentPart } from './store.js';

interface ExportedState {
  v: 1;
  hosts: Record<string, string>;
  domains: Record<string, string>;
  parts: Record<string, unknown>;
}

export class StateCodec {
  /** The shared buffer restored baselines are being copied into, and how much of it is used. */
  private slab: BaselineChunk = EMPTY_SLAB;
  private slabUsed = 0;
  /** The views restored baselines used in place share (the buffer the last owned bytes came in). */
  private ownedChunk: BaselineChunk = EMPTY_SLAB;

  constructor(
    private readonly hosts: KeyTable<Baseline>,
    private readonly domains: KeyTable<Baseline>,
    /** The detectors' parts, as registered (the array grows while detectors are built). */
    private readonly parts: readonly PersistentPart[],
  ) {}

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
