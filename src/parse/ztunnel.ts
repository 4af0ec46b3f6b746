/**
 * ztunnel access records (Istio ambient mode): one record per L4 connection, written by the node's
 * ztunnel when the connection closes (istio/ztunnel src/proxy/metrics.rs, `access_log!`):
 *
 *   TEXT  `2025-01-23T05:07:25.806642Z<TAB>info<TAB>access<TAB>connection complete<TAB>src.addr=10.129.0.48:40978
 *          src.workload="productpage-v1-57ffb6658c-vmb6z" ... direction="outbound" bytes_sent=283 bytes_recv=358 duration="2ms"`
 *   JSON  `{"level":"info","time":"...","scope":"access","message":"connection complete","src.addr":"...",...,
 *          "bytes_sent":800,"bytes_recv":8468,"duration":"73ms"}` (ztunnel with LOG_FORMAT=json)
 *
 * Level is `info`, or `error` with an `error=` field when the connection failed. Separators are tabs
 * as written, or spaces where the line was copied through a terminal or web page; values are quoted
 * or bare. `connection opened` (debug) and `connection failed` (warn: denied before a connection
 * existed) are skipped and counted. Identities (`src.identity`, `dst.identity`) are logged only for
 * mTLS connections, so a direct connection to the internet has none. `bytes_sent` is what the
 * source sent on outbound records and what the destination sent on inbound ones ("unflipped" in
 * metrics.rs): the record's `bytesReceived` (up) and `bytesSent` (down) are set accordingly.
 * `startTime` is the record's time less its duration (the connection's start, as in Envoy lines).
 */
import { resetRecord } from './fields.js';
import { fillFromJsonLine, type JsonObjectFiller } from './json-line.js';
import type { ParserSpec } from './spec.js';
import { parseIsoTime } from './time.js';
import type { AccessLineParser, AccessRecord, ParseOutcome } from './types.js';

/** What a ztunnel record says beyond the Envoy fields (AccessRecord.ztunnel). */
export interface ZtunnelFields {
  direction: 'outbound' | 'inbound' | null;
  /** `ip:port` of the client. */
  srcAddr: string | null;
  /** Pod name (ztunnel falls back to the canonical service name). */
  srcWorkload: string | null;
  srcNamespace: string | null;
  /** SPIFFE id, only on mTLS (HBONE) connections. */
  srcIdentity: string | null;
  srcCluster: string | null;
  /** `ip:port` ztunnel connected to: the destination itself, or a waypoint / remote ztunnel on :15008. */
  dstAddr: string | null;
  /** The address inside the HBONE tunnel (the original destination, e.g. a ServiceEntry VIP). */
  dstHboneAddr: string | null;
  /** Service host (a Kubernetes service FQDN or a ServiceEntry host). */
  dstService: string | null;
  dstWorkload: string | null;
  dstNamespace: string | null;
  dstIdentity: string | null;
  dstCluster: string | null;
  /** `error=` of a failed connection (level error). */
  error: string | null;
}

export function newZtunnelFields(): ZtunnelFields {
  return {
    direction: null,
    srcAddr: null,
    srcWorkload: null,
    srcNamespace: null,
    srcIdentity: null,
    srcCluster: null,
    dstAddr: null,
    dstHboneAddr: null,
    dstService: null,
    dstWorkload: null,
    dstNamespace: null,
    dstIdentity: null,
    dstCluster: null,
    error: null,
  };
}

const LEVELS = 'info|warn|warning|error|debug|trace|INFO|WARN|ERROR|DEBUG|TRACE';
/** Timestamp, level and the `access` scope, tab- or space-separated. */
const TEXT_HEAD = new RegExp(
  `^(\\d{4}-\\d\\d-\\d\\dT[\\d:.]+(?:Z|[+-]\\d\\d:?\\d\\d)?)[\\t ]+(?:${LEVELS})[\\t ]+access[\\t ]+`,
);
const COMPLETE = 'connection complete';

/** Does this bare line look like a ztunnel access record (any message)? */
export function looksLikeZtunnelText(line: string): boolean {
  return TEXT_HEAD.test(line);
}

/** A JSON string that holds a ztunnel access record (cheap check before JSON.parse). */
const JSON_SCOPE = /"scope"\s*:\s*"access"/;
export function looksLikeZtunnelJsonLine(line: string): boolean {
  return line.includes('"scope"') && JSON_SCOPE.test(line);
}

/** A parsed object that is a ztunnel access record (bare, or merged by a shipper). */
export function isZtunnelObject(o: Record<string, unknown>): boolean {
  return (
    o.scope === 'access' &&
    typeof o.message === 'string' &&
    (o['src.addr'] !== undefined || o['dst.addr'] !== undefined)
  );
}

function skipFor(message: string): ParseOutcome | null {
  if (message.startsWith(COMPLETE)) return null;
  if (message.startsWith('connection opened')) return SKIP_OPENED;
  if (message.startsWith('connection failed')) return SKIP_FAILED;
  return SKIP_OTHER;
}

const ACCESS: ParseOutcome = { kind: 'access' };
const SKIP_OPENED: ParseOutcome = { kind: 'skip', reason: 'ztunnel connection opened (debug record)' };
const SKIP_FAILED: ParseOutcome = {
  kind: 'skip',
  reason: 'ztunnel connection failed (denied before connecting)',
};
const SKIP_OTHER: ParseOutcome = { kind: 'skip', reason: 'ztunnel access-scope message (not a record)' };

/** Reads "Nms" / "N" / N as milliseconds; -1 when it is not one. */
function durationMs(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : -1;
  if (typeof v !== 'string') return -1;
  const m = /^(\d+(?:\.\d+)?)(ms|s|us|µs)?$/.exec(v);
  if (m === null) return -1;
  const n = Number(m[1]);
  switch (m[2]) {
    case 's':
      return n * 1000;
    case 'us':
    case 'µs':
      return n / 1000;
    default:
      return n;
  }
}

function count(v: unknown): number {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : -1;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return -1;
}

function text(v: unknown): string | null {
  if (typeof v === 'string') return v.length === 0 || v === '-' ? null : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/**
 * Both encodings: TEXT (`parse`) and JSON (`parse` of a `{` line, `fill` of a parsed object). One
 * ZtunnelFields object is reused and hung on the record (`record.ztunnel`) for every record.
 */
export class ZtunnelParser implements AccessLineParser, JsonObjectFiller {
  readonly format = 'ztunnel';
  private readonly fields = newZtunnelFields();
  /** Values of the TEXT line being read, by key (reused). */
  private readonly values = new Map<string, string>();

  accepts(line: string): boolean {
    const c = line.charCodeAt(0);
    return c === 123 ? looksLikeZtunnelJsonLine(line) : looksLikeZtunnelText(line);
  }

  parse(line: string, out: AccessRecord): ParseOutcome {
    if (line.charCodeAt(0) === 123) return fillFromJsonLine(line, 'ztunnel JSON record', this, out);
    return this.parseText(line, out);
  }

  parseText(line: string, out: AccessRecord): ParseOutcome {
    resetRecord(out);
    const head = TEXT_HEAD.exec(line);
    if (head === null)
      return { kind: 'malformed', reason: 'ztunnel record: no timestamp, level and access scope' };
    let i = head[0].length;
    const skip = skipFor(line.slice(i, i + COMPLETE.length));
    if (skip !== null) return skip;
    i += COMPLETE.length;
    const values = this.values;
    values.clear();
    const n = line.length;
    while (i < n) {
      let c = line.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) {
        i++;
        continue;
      }
      const eq = line.indexOf('=', i);
      if (eq < 0)
        return { kind: 'malformed', reason: `ztunnel record: "${line.slice(i, i + 40)}" is not key=value` };
      const key = line.slice(i, eq);
      if (/[\s"]/.test(key))
        return { kind: 'malformed', reason: `ztunnel record: "${key.slice(0, 40)}" is not a key` };
      i = eq + 1;
      c = line.charCodeAt(i);
      let value: string;
      if (c === 34) {
        // Quoted (Rust Debug formatting): \" and \\ escape, the value ends at the next bare quote.
        let j = i + 1;
        let escaped = false;
        while (j < n) {
          const d = line.charCodeAt(j);
          if (d === 92) {
            escaped = true;
            j += 2;
            continue;
          }
          if (d === 34) break;
          j++;
        }
        if (j >= n)
          return { kind: 'malformed', reason: `ztunnel record: the value of ${key} has no closing quote` };
        value = line.slice(i + 1, j);
        if (escaped) value = value.replace(/\\(.)/g, '$1');
        i = j + 1;
      } else {
        let j = i;
        while (j < n) {
          const d = line.charCodeAt(j);
          if (d === 32 || d === 9 || d === 10 || d === 13) break;
          j++;
        }
        value = line.slice(i, j);
        i = j;
      }
      values.set(key, value);
    }
    const time = parseIsoTime(head[1] as string, 0, (head[1] as string).length);
    return this.assign(time, (k) => values.get(k), out);
  }

  /** A parsed JSON record (bare, or merged into a shipper's record). */
  fill(o: Record<string, unknown>, out: AccessRecord): ParseOutcome {
    resetRecord(out);
    const message = typeof o.message === 'string' ? o.message : '';
    const skip = skipFor(message);
    if (skip !== null) return skip;
    const t = o.time ?? o.timestamp;
    const time = typeof t === 'string' ? parseIsoTime(t, 0, t.length) : Number.NaN;
    return this.assign(time, (k) => o[k], out);
  }

  private assign(time: number, get: (key: string) => unknown, out: AccessRecord): ParseOutcome {
    const z = this.fields;
    z.srcAddr = text(get('src.addr'));
    z.dstAddr = text(get('dst.addr'));
    if (z.srcAddr === null || z.dstAddr === null)
      return {
        kind: 'malformed',
        reason: 'ztunnel record: connection complete without src.addr and dst.addr',
      };
    const direction = text(get('direction'));
    z.direction = direction === 'outbound' || direction === 'inbound' ? direction : null;
    if (direction !== null && z.direction === null)
      return {
        kind: 'malformed',
        reason: `ztunnel record: direction "${direction.slice(0, 20)}" is neither outbound nor inbound`,
      };
    z.srcWorkload = text(get('src.workload'));
    z.srcNamespace = text(get('src.namespace'));
    z.srcIdentity = text(get('src.identity'));
    z.srcCluster = text(get('src.cluster'));
    z.dstHboneAddr = text(get('dst.hbone_addr'));
    z.dstService = text(get('dst.service'));
    z.dstWorkload = text(get('dst.workload'));
    z.dstNamespace = text(get('dst.namespace'));
    z.dstIdentity = text(get('dst.identity'));
    z.dstCluster = text(get('dst.cluster'));
    z.error = text(get('error'));
    const sent = count(get('bytes_sent') ?? 0);
    if (sent < 0) return { kind: 'malformed', reason: 'ztunnel record: bytes_sent is not a number' };
    const recv = count(get('bytes_recv') ?? 0);
    if (recv < 0) return { kind: 'malformed', reason: 'ztunnel record: bytes_recv is not a number' };
    const dur = durationMs(get('duration') ?? 0);
    if (dur < 0) return { kind: 'malformed', reason: 'ztunnel record: duration is not "<n>ms"' };
    // The record is written when the connection closes: its start is the time less the duration
    // (Envoy's %START_TIME% is the start too, so ztunnel and waypoint legs line up).
    out.startTime = time - dur;
    // Up = what the client sent: bytes_sent on the source's (outbound) record, bytes_recv on the destination's.
    const inbound = z.direction === 'inbound';
    out.bytesReceived = inbound ? recv : sent;
    out.bytesSent = inbound ? sent : recv;
    out.durationMs = dur;
    out.downstreamRemoteAddress = z.srcAddr;
    out.upstreamHost = z.dstAddr;
    out.responseFlags = z.error === null ? null : 'ztunnel_error';
    out.responseCodeDetails = z.error;
    out.ztunnel = z;
    return ACCESS;
  }
}

export const ztunnelParserSpec: ParserSpec = {
  name: 'ztunnel',
  summary: "ztunnel's access records (Istio ambient mode), as text or JSON.",
  examples: [
    {
      line: '2024-05-04T09:59:05.028771Z info    access  connection complete src.addr=10.244.1.12:58508 src.workload="sleep-7656cf8794-r7zb9" src.namespace="default" src.identity="spiffe://cluster.local/ns/default/sa/sleep" dst.addr=10.244.1.10:15008 dst.hbone_addr="10.244.1.10:9080" dst.service="productpage.default.svc.cluster.local" dst.workload="productpage-v1-87d54dd59-fn6vw" dst.namespace="productpage" dst.identity="spiffe://cluster.local/ns/default/sa/bookinfo-productpage" direction="outbound" bytes_sent=80 bytes_recv=175 duration="1ms"',
      source: 'istio.io docs/ambient/usage/debugging, "Verifying ztunnel traffic through logs"',
    },
  ],
  create: () => new ZtunnelParser(),
};
