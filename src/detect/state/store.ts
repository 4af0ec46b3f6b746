/**
 * The detection state shared by detectors: rolling baselines per (identity, host) and per
 * (identity, registrable domain), plus any per-identity parts detectors register (first-seen sets,
 * beacon tracks). Everything can be exported and imported per source identity key, which is how
 * `--state DIR` saves it and how the scale-out work checkpoints it per Kafka partition.
 */
import type { EgressEvent } from '../../identity/types.js';
import { BASELINE_BYTES, Baseline } from './baseline.js';
import { KeyTable } from './key-table.js';

/** Separates identity and destination in table keys (never appears in either). */
export const KEY_SEP = '\u0001';

/** Per-identity state a detector keeps and wants saved with the baselines. */
export interface PersistentPart {
  readonly name: string;
  identities(): Iterable<string>;
  /** JSON-serialisable state of one identity, or undefined when it has none. */
  exportIdentity(identity: string): unknown;
  importIdentity(identity: string, data: unknown): void;
}

/** Sidecar legs seen within this (event time) mean sidecar logs are being collected. */
const SIDECAR_LEGS_RECENT = 10 * 60_000;

export interface StateOptions {
  maxKeys: number;
  tzOffsetMs: number;
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
  /** The baselines the current event updated (valid during `observe` of detectors). */
  currentHost: Baseline | null = null;
  currentDomain: Baseline | null = null;
  currentHostKey = '';
  currentDomainKey = '';
  /** Event time of the first event ever seen (kept across restarts): the global learning clock. */
  startTime = Number.NaN;
  /**
   * The current event is a gateway leg while sidecar legs are being collected too: per-identity
   * detectors judge the sidecar leg (exact pod metadata) instead, so one connection counts once and a
   * stale pod-IP attribution at the gateway (IPs are reused) cannot invent an identity.
   * forbidden-destination still reads principal-attributed gateway legs (principal-based policies).
   */
  redundant = false;
  private lastSidecarLeg = Number.NEGATIVE_INFINITY;

  constructor(readonly options: StateOptions) {
    // Grouped by identity: export/import of one identity is O(its entries), not O(table).
    this.hosts = new KeyTable<Baseline>('identity-host', options.maxKeys, KEY_SEP);
    this.domains = new KeyTable<Baseline>('identity-domain', options.maxKeys, KEY_SEP);
  }

  register(part: PersistentPart): void {
    this.parts.push(part);
  }

  observe(event: EgressEvent): void {
    if (Number.isNaN(this.startTime)) this.startTime = event.time;
    this.currentHost = null;
    this.currentDomain = null;
    if (event.path === 'sidecar-to-gateway') this.lastSidecarLeg = event.time;
    this.redundant =
      event.path === 'gateway-to-external' && event.time - this.lastSidecarLeg < SIDECAR_LEGS_RECENT;
    if (this.redundant || !isEgress(event) || !event.destination.external) return;
    const id = event.source.key;
    const host = destinationName(event);
    const domain = event.destination.registeredDomain ?? host;
    this.currentHostKey = id + KEY_SEP + host;
    this.currentDomainKey = id + KEY_SEP + domain;
    const connections = event.protocol === 'http' ? 0 : 1;
    const tz = this.options.tzOffsetMs;
    const h = this.hosts.touch(this.currentHostKey, event.time, newBaseline);
    h.add(event.time, tz, 1, connections, event.bytesUp, event.bytesDown);
    const d = this.domains.touch(this.currentDomainKey, event.time, newBaseline);
    d.add(event.time, tz, 1, connections, event.bytesUp, event.bytesDown);
    this.currentHost = h;
    this.currentDomain = d;
  }

  /** Every identity that has any state. */
  keys(): string[] {
    const ids = new Set<string>();
    for (const id of this.hosts.groupNames()) ids.add(id);
    for (const id of this.domains.groupNames()) ids.add(id);
    for (const part of this.parts) for (const id of part.identities()) ids.add(id);
    return [...ids].sort();
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

  /** Restores what `exportKey` produced; throws on a malformed state string. */
  importKey(identity: string, text: string): void {
    const data = JSON.parse(text) as ExportedState;
    if (data.v !== 1 || typeof data.hosts !== 'object' || typeof data.domains !== 'object') {
      throw new Error(`unsupported state for ${identity}`);
    }
    for (const [name, table] of [
      ['hosts', this.hosts],
      ['domains', this.domains],
    ] as const) {
      for (const [dest, b64] of Object.entries(data[name])) {
        const bytes = Buffer.from(b64, 'base64');
        if (bytes.length !== BASELINE_BYTES)
          throw new Error(
            `baseline for ${identity} -> ${dest} has ${bytes.length} bytes, expected ${BASELINE_BYTES}`,
          );
        const buf = new ArrayBuffer(BASELINE_BYTES);
        new Uint8Array(buf).set(bytes);
        const baseline = new Baseline(buf);
        table.setInGroup(identity, dest, baseline, Math.floor(baseline.lastSeen / 60_000));
      }
    }
    for (const part of this.parts) {
      const partData = data.parts?.[part.name];
      if (partData !== undefined) part.importIdentity(identity, partData);
    }
  }

  /**
   * The state of one identity as bytes, for changelogs: the baselines' own bytes (no base64, no
   * JSON around them) and the detectors' parts as one small JSON block. Layout: u8 version (2),
   * then for hosts and domains: u32 count, per entry u16 name length, name (UTF-8), BASELINE_BYTES;
   * then u32 length and the parts JSON. A JSON export starts with '{', so readers can tell them apart.
   */
  exportKeyBytes(identity: string): Buffer {
    const tables = [this.hosts, this.domains];
    const picked: [Buffer, Baseline][][] = [[], []];
    let size = 1 + 8 + 4;
    for (let t = 0; t < 2; t++) {
      for (const [dest, entry] of (tables[t] as KeyTable<Baseline>).group(identity)) {
        const name = Buffer.from(dest, 'utf8');
        (picked[t] as [Buffer, Baseline][]).push([name, entry.value]);
        size += 2 + name.length + BASELINE_BYTES;
      }
    }
    const parts: Record<string, unknown> = {};
    let anyPart = false;
    for (const part of this.parts) {
      const data = part.exportIdentity(identity);
      if (data !== undefined) {
        parts[part.name] = data;
        anyPart = true;
      }
    }
    const partsJson = anyPart ? Buffer.from(JSON.stringify(parts), 'utf8') : Buffer.alloc(0);
    const out = Buffer.allocUnsafe(size + partsJson.length);
    let o = out.writeUInt8(2, 0);
    for (const entries of picked) {
      o = out.writeUInt32LE(entries.length, o);
      for (const [name, baseline] of entries) {
        o = out.writeUInt16LE(name.length, o);
        o += name.copy(out, o);
        out.set(baseline.bytes, o);
        o += BASELINE_BYTES;
      }
    }
    o = out.writeUInt32LE(partsJson.length, o);
    partsJson.copy(out, o);
    return out;
  }

  /** Restores what `exportKeyBytes` (or, for old changelogs, `exportKey`) produced. */
  importKeyBytes(identity: string, bytes: Uint8Array): void {
    if (bytes[0] === 0x7b) {
      this.importKey(identity, Buffer.from(bytes).toString('utf8'));
      return;
    }
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (b.length < 13 || b[0] !== 2) throw new Error(`unsupported binary state for ${identity}`);
    // All of the identity's baselines go into one new buffer (one allocation, one native copy per
    // baseline): ArrayBuffer allocations and their GC were most of the restore's import time.
    // Its memory is freed once all of them are evicted.
    let total = 0;
    let o = 1;
    for (let t = 0; t < 2; t++) {
      if (o + 4 > b.length) throw new Error(`binary state for ${identity} is truncated`);
      const count = b.readUInt32LE(o);
      o += 4;
      total += count;
      for (let k = 0; k < count; k++) {
        if (o + 2 > b.length) throw new Error(`binary state for ${identity} is truncated`);
        o += 2 + b.readUInt16LE(o) + BASELINE_BYTES;
      }
    }
    if (o + 4 > b.length) throw new Error(`binary state for ${identity} is truncated`);
    const slab = new Uint8Array(total * BASELINE_BYTES);
    let at = 0;
    o = 1;
    for (const table of [this.hosts, this.domains]) {
      const count = b.readUInt32LE(o);
      o += 4;
      for (let k = 0; k < count; k++) {
        const len = b.readUInt16LE(o);
        o += 2;
        const name = b.toString('utf8', o, o + len);
        o += len;
        b.copy(slab, at, o, o + BASELINE_BYTES);
        o += BASELINE_BYTES;
        const baseline = new Baseline(slab.buffer, at);
        at += BASELINE_BYTES;
        table.setInGroup(identity, name, baseline, Math.floor(baseline.lastSeen / 60_000));
      }
    }
    const partsLength = b.readUInt32LE(o);
    o += 4;
    if (partsLength === 0) return;
    const parts = JSON.parse(b.toString('utf8', o, o + partsLength)) as Record<string, unknown>;
    for (const part of this.parts) {
      const partData = parts[part.name];
      if (partData !== undefined) part.importIdentity(identity, partData);
    }
  }
}

function newBaseline(): Baseline {
  return new Baseline();
}
