/**
 * The encoding of normalised events on the internal by-source topic. A positional JSON array:
 * `JSON.stringify`/`JSON.parse` are native code in V8 and beat any hand-written JS binary codec
 * for mixed strings and numbers (measured in bench/event-codec.ts), while field names and
 * enum strings are left out (enums as small integers), which halves the size of the keyed object
 * form. The version is the first element, so a later layout can be told apart (2 added principalSource;
 * 3 added the connection's addresses and the logged SNI, which join a sidecar's leg to the gateway's;
 * version 2 rows are still read, without them).
 * An ambient-mode event (identity/ambient.ts) has one more slot, the proxy that wrote it; rows
 * without it (every sidecar event, and what earlier builds wrote) read as not ambient. An event whose
 * names contradict its address (identity/types.ts NameClaim) has one more after that (the ambient
 * slot then null when not ambient): `[kind, sni, authority, nameUnverified]` (kind null when only the
 * destination's name is unverified).
 * Every EgressEvent field is carried but `join` (stage 2 joins the legs itself) and `extra`:
 * test/identity/event.test.ts fails when a field added to the event (identity/event.ts) is not.
 */
import type {
  AmbientProxy,
  Attribution,
  EgressEvent,
  EgressPath,
  NameClaim,
  PrincipalSource,
  Protocol,
  Reporter,
} from '../identity/types.js';

const VERSION = 3;
const REPORTERS: readonly Reporter[] = ['sidecar', 'egress-gateway', 'ingress-gateway'];
const PROTOCOLS: readonly Protocol[] = ['http', 'tcp', 'tls'];
const PATHS: readonly EgressPath[] = [
  'sidecar-to-gateway',
  'gateway-to-external',
  'passthrough',
  'direct-external',
  'blackhole',
  'internal',
  'inbound',
];
const ATTRIBUTIONS: readonly Attribution[] = ['principal', 'metadata', 'pod-ip', 'unknown'];
// Index 0 is "not known" (null), so a learned principal stays told apart from a logged one.
const PRINCIPAL_SOURCES: readonly (PrincipalSource | null)[] = [null, 'logged', 'learned'];
const PRINCIPAL_SOURCE_CODE = new Map(PRINCIPAL_SOURCES.map((v, i) => [v, i]));
const AMBIENT: readonly AmbientProxy[] = ['ztunnel', 'waypoint'];
const AMBIENT_CODE = new Map(AMBIENT.map((v, i) => [v, i]));
const CLAIM_KINDS: readonly NameClaim['kind'][] = ['mesh-name-external-address', 'sni-authority-mismatch'];
const CLAIM_CODE = new Map(CLAIM_KINDS.map((v, i) => [v, i]));

const REPORTER_CODE = new Map(REPORTERS.map((v, i) => [v, i]));
const PROTOCOL_CODE = new Map(PROTOCOLS.map((v, i) => [v, i]));
const PATH_CODE = new Map(PATHS.map((v, i) => [v, i]));
const ATTRIBUTION_CODE = new Map(ATTRIBUTIONS.map((v, i) => [v, i]));

const FIELDS = 30;
/** Version 2 rows (no addresses, no SNI) are still read: a topic written before an upgrade drains. */
const FIELDS_V2 = 27;

// Reused across calls: the only allocation per event is JSON.stringify's string.
const row: unknown[] = new Array(FIELDS);

export function encodeEvent(e: EgressEvent): string {
  const s = e.source;
  const d = e.destination;
  row[0] = VERSION;
  row[1] = e.time;
  row[2] = REPORTER_CODE.get(e.reporter);
  row[3] = PROTOCOL_CODE.get(e.protocol);
  row[4] = PATH_CODE.get(e.path);
  row[5] = e.cluster;
  row[6] = e.bytesUp;
  row[7] = e.bytesDown;
  row[8] = e.durationMs;
  row[9] = e.responseCode;
  row[10] = e.responseFlags;
  row[11] = e.requestId;
  row[12] = e.method;
  row[13] = e.httpPath;
  row[14] = s.principal;
  row[15] = s.namespace;
  row[16] = s.workload;
  row[17] = s.pod;
  row[18] = s.ip;
  row[19] = ATTRIBUTION_CODE.get(s.attribution);
  row[20] = s.key;
  row[21] = d.host;
  row[22] = d.registeredDomain;
  row[23] = d.ip;
  // Port and external flag share a slot: port * 2 + external.
  row[24] = d.port * 2 + (d.external ? 1 : 0);
  row[25] = e.origin;
  row[26] = PRINCIPAL_SOURCE_CODE.get(s.principalSource ?? null) ?? 0;
  row[27] = e.upstreamLocalAddress ?? null;
  row[28] = e.downstreamRemoteAddress ?? null;
  row[29] = e.sni ?? null;
  const ambient = e.ambient == null ? undefined : AMBIENT_CODE.get(e.ambient);
  const claim = e.claim;
  if (claim != null || d.nameUnverified === true) {
    row[FIELDS] = ambient ?? null;
    row[FIELDS + 1] =
      claim == null
        ? [null, null, null, 1]
        : [CLAIM_CODE.get(claim.kind), claim.sni, claim.authority, d.nameUnverified === true ? 1 : 0];
    return JSON.stringify(row);
  }
  if (ambient === undefined) {
    row.length = FIELDS;
    return JSON.stringify(row);
  }
  row.length = FIELDS + 1;
  row[FIELDS] = ambient;
  return JSON.stringify(row);
}

function pick<T>(table: readonly T[], code: unknown, what: string): T {
  const v = table[code as number];
  if (v === undefined) throw new Error(`unknown ${what} code ${String(code)}`);
  return v;
}

/**
 * Fills `out` from an encoded event. Throws an Error naming what is wrong on a malformed value
 * (the caller dead-letters it with its topic/partition/offset).
 */
export function decodeEvent(text: string, out: EgressEvent): EgressEvent {
  return fillEvent(JSON.parse(text), out);
}

/**
 * Several encoded events in one record (a JSON array of them): Kafka and kafkajs cost about as much
 * per record as the event's own encoding, so stage 1 sends one record per by-source partition and
 * batch instead of one per event.
 */
export function encodeEventRecord(encoded: readonly string[]): string {
  return `[${encoded.join(',')}]`;
}

/**
 * The events of a record as rows for `fillEvent`: several (`encodeEventRecord`) or one
 * (`encodeEvent`, what earlier versions wrote). Throws on text that is neither.
 */
export function decodeEventRecord(text: string): unknown[] {
  const r = JSON.parse(text) as unknown;
  if (!Array.isArray(r)) throw new Error(`not an event record (${text.slice(0, 40)})`);
  return r.length > 0 && !Array.isArray(r[0]) ? [r] : r;
}

/** Fills `out` from one decoded row; throws naming what is wrong on a malformed one. */
export function fillEvent(row: unknown, out: EgressEvent): EgressEvent {
  const r = row as unknown[];
  const base = !Array.isArray(r) ? -1 : r[0] === VERSION ? FIELDS : r[0] === 2 ? FIELDS_V2 : -1;
  if (base < 0 || r.length < base || r.length > base + 2) {
    throw new Error(`not a version ${VERSION} (or 2) event (${JSON.stringify(row).slice(0, 40)})`);
  }
  out.time = r[1] as number;
  out.reporter = pick(REPORTERS, r[2], 'reporter');
  out.protocol = pick(PROTOCOLS, r[3], 'protocol');
  out.path = pick(PATHS, r[4], 'path');
  out.cluster = r[5] as string | null;
  out.bytesUp = r[6] as number;
  out.bytesDown = r[7] as number;
  out.durationMs = r[8] as number;
  out.responseCode = r[9] as number;
  out.responseFlags = r[10] as string | null;
  out.requestId = r[11] as string | null;
  out.method = r[12] as string | null;
  out.httpPath = r[13] as string | null;
  const s = out.source;
  s.principal = r[14] as string | null;
  s.namespace = r[15] as string | null;
  s.workload = r[16] as string | null;
  s.pod = r[17] as string | null;
  s.ip = r[18] as string | null;
  s.attribution = pick(ATTRIBUTIONS, r[19], 'attribution');
  s.key = r[20] as string;
  const d = out.destination;
  d.host = r[21] as string | null;
  d.registeredDomain = r[22] as string | null;
  d.ip = r[23] as string | null;
  const portExt = r[24] as number;
  d.port = portExt >>> 1;
  d.external = (portExt & 1) === 1;
  out.origin = r[25] as string;
  s.principalSource = pick(PRINCIPAL_SOURCES, r[26], 'principal source');
  const v3 = base === FIELDS;
  out.upstreamLocalAddress = v3 ? (r[27] as string | null) : null;
  out.downstreamRemoteAddress = v3 ? (r[28] as string | null) : null;
  out.sni = v3 ? (r[29] as string | null) : null;
  out.join = null;
  out.ambient = r.length > base && r[base] !== null ? pick(AMBIENT, r[base], 'ambient proxy') : null;
  if (r.length > base + 1) {
    const c = r[base + 1] as unknown[];
    if (!Array.isArray(c) || (c.length !== 3 && c.length !== 4))
      throw new Error(`malformed name claim ${JSON.stringify(c).slice(0, 40)}`);
    out.claim =
      c[0] === null
        ? null
        : {
            kind: pick(CLAIM_KINDS, c[0], 'name claim'),
            sni: c[1] as string | null,
            authority: c[2] as string | null,
          };
    d.nameUnverified = c[3] === 1;
  } else {
    if (out.claim != null) out.claim = null;
    if (d.nameUnverified === true) d.nameUnverified = false;
  }
  return out;
}
