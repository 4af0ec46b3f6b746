/**
 * Istio's JSON access-log encoding (istio src `EnvoyJSONLogFormatIstio`, reference §2): `json_format`
 * so every value is a string and "-" means absent; typed JSON (numbers, null) is accepted too. Users'
 * extra keys are read when they map to something we use (`downstream_peer_uri_san` -> peerPrincipal);
 * all other keys are ignored. A custom key map (compileJsonFormat) replaces the Istio one.
 *
 * Only the caller's identity matters, so `upstream_peer_uri_san` is deliberately not read.
 */
import { ACCESS, compileJsonFormat, type JsonKeyField } from './custom-format.js';
import { assignNumber, assignString, F, isNumericField, resetRecord } from './fields.js';
import { fillFromJsonLine, type JsonObjectFiller } from './json-line.js';
import type { ParserSpec } from './spec.js';
import { parseIsoTime } from './time.js';
import type { AccessLineParser, AccessRecord, ParseOutcome } from './types.js';
import { isZtunnelObject } from './ztunnel.js';

export const ISTIO_JSON_FORMAT: Readonly<Record<string, string>> = {
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  // %UPSTREAM_CLUSTER% before 1.23: strips one trailing ';', harmless on _RAW values.
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
  // Common additions at the egress gateway (not in Istio's default).
  downstream_peer_uri_san: '%DOWNSTREAM_PEER_URI_SAN%',
  peer_principal: '%DOWNSTREAM_PEER_URI_SAN%',
};

/** Does this parsed object look like an access-log record (as opposed to an envelope or app log)? */
export function looksLikeJsonAccess(o: Record<string, unknown>): boolean {
  return (
    o.start_time !== undefined ||
    o.response_code !== undefined ||
    o.upstream_cluster !== undefined ||
    isZtunnelObject(o)
  );
}

/** Line shapes (key orders) the escaped reader keeps a compiled pattern for, most recent first. */
const MAX_SHAPES = 4;

/**
 * What would end or break the enclosing JSON string early: a raw control character, or a quote that
 * is not escaped (in what the key-by-key read accepts, every backslash is a delimiter's or the
 * final newline's).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings.
const STRING_BREAK = /[\x00-\x1f]|(?<!\\)"/g;

/** One key order of escaped lines, as a sticky pattern capturing the values of the keys read. */
interface LineShape {
  readonly pattern: RegExp;
  /** Index in `keys` of each capture group (1-based groups at [g - 1]). */
  readonly groupKey: readonly number[];
}

export class EnvoyJsonParser implements AccessLineParser, JsonObjectFiller {
  readonly format: string;
  private readonly keys: readonly JsonKeyField[];
  /** Index in `keys` by key name, for the escaped reader. */
  private readonly keyIndex = new Map<string, number>();
  /** The escaped reader's values of the current line, by index in `keys` (undefined: absent, "-" or ""). */
  private readonly values: (string | undefined)[];
  private shapes: LineShape[] = [];
  /** Key names of the line being read key by key, and of the last one read so (a repeat is compiled). */
  private previousNames: string[] = [];
  private scanNames: string[] = [];

  constructor(map: Readonly<Record<string, string>> = ISTIO_JSON_FORMAT, name = 'envoy-json') {
    this.keys = compileJsonFormat(map);
    this.format = name;
    for (let i = 0; i < this.keys.length; i++) this.keyIndex.set((this.keys[i] as JsonKeyField).key, i);
    this.values = this.keys.map(() => undefined);
  }

  accepts(line: string): boolean {
    return line.charCodeAt(0) === 123;
  }

  parse(line: string, out: AccessRecord): ParseOutcome {
    return fillFromJsonLine(line, 'JSON access line', this, out);
  }

  /** Fills `out` from an already-parsed object (envelopes with merged logs, OTLP attributes). */
  fill(obj: Record<string, unknown>, out: AccessRecord): ParseOutcome {
    resetRecord(out);
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as JsonKeyField;
      const v = obj[k.key];
      if (v === undefined || v === null || v === '-' || v === '') continue;
      const bad = assignValue(k, v, out);
      if (bad !== null) return bad;
    }
    return ACCESS;
  }

  /**
   * Reads a flat JSON access line straight from its escaped form inside a JSON string (a Fluent Bit
   * record's `"log":"{\"start_time\":\"…\",…}\n"`), without decoding the string nor parsing the
   * line into an object. `start` is the index of the `{` right after the string's opening quote.
   * Returns the index just past the string's closing quote, with `out` filled exactly as
   * `parse(JSON.parse(thatString))` would fill it; -1 when unsure (any escape inside a key or value,
   * a value that is not a string, whitespace but spaces, a bad value, anything after the line but
   * its newline), and then the caller decodes the string and takes `parse`. What it accepts is a
   * valid JSON string.
   *
   * A line is matched against the compiled patterns of the key orders seen repeatedly (one native
   * regex pass that also validates); other lines are read key by key, which learns their order.
   */
  parseEscaped(raw: string, start: number, out: AccessRecord): number {
    if (raw.charCodeAt(start) !== 123) return -1;
    const values = this.values;
    values.fill(undefined);
    const shapes = this.shapes;
    for (let s = 0; s < shapes.length; s++) {
      const shape = shapes[s] as LineShape;
      const pattern = shape.pattern;
      pattern.lastIndex = start;
      const m = pattern.exec(raw);
      if (m === null) continue;
      const groupKey = shape.groupKey;
      for (let g = 0; g < groupKey.length; g++) {
        const v = m[g + 1] as string;
        // "-" and "" mean absent (and a repeated key's last value wins, as in JSON.parse).
        values[groupKey[g] as number] = v === '-' || v === '' ? undefined : v;
      }
      if (s > 0) {
        shapes.splice(s, 1);
        shapes.unshift(shape);
      }
      return this.fillValues(out) ? pattern.lastIndex : -1;
    }
    const end = this.scanEscaped(raw, start);
    if (end < 0) return -1;
    this.learnShape();
    return this.fillValues(out) ? end : -1;
  }

  /** `out` from `values`, in key order as `fill` does; false when a value is bad (`parse` names it). */
  private fillValues(out: AccessRecord): boolean {
    resetRecord(out);
    const keys = this.keys;
    const values = this.values;
    for (let j = 0; j < keys.length; j++) {
      const v = values[j];
      if (v === undefined) continue;
      if (assignValue(keys[j] as JsonKeyField, v, out) !== null) return false;
    }
    return true;
  }

  /** The key-by-key read of parseEscaped into `values`; the index past the closing quote, or -1. */
  private scanEscaped(raw: string, start: number): number {
    const values = this.values;
    const names = this.scanNames;
    names.length = 0;
    let i = spaces(raw, start + 1);
    for (;;) {
      // Key: \"name\" with no other backslash inside.
      if (raw.charCodeAt(i) !== 92 || raw.charCodeAt(i + 1) !== 34) return -1;
      const ks = i + 2;
      const ke = raw.indexOf('\\', ks);
      if (ke < 0 || raw.charCodeAt(ke + 1) !== 34) return -1;
      const name = raw.slice(ks, ke);
      names.push(name);
      const k = this.keyIndex.get(name) ?? -1;
      i = spaces(raw, ke + 2);
      if (raw.charCodeAt(i) !== 58) return -1;
      i = spaces(raw, i + 1);
      // Value: \"text\" with no other backslash inside (typed JSON values take the decoding path).
      if (raw.charCodeAt(i) !== 92 || raw.charCodeAt(i + 1) !== 34) return -1;
      const vs = i + 2;
      const ve = raw.indexOf('\\', vs);
      if (ve < 0 || raw.charCodeAt(ve + 1) !== 34) return -1;
      if (k >= 0)
        values[k] = ve === vs || (ve === vs + 1 && raw.charCodeAt(vs) === 45) ? undefined : raw.slice(vs, ve);
      i = spaces(raw, ve + 2);
      const c = raw.charCodeAt(i);
      if (c === 44) i = spaces(raw, i + 1);
      else if (c === 125) break;
      else return -1;
    }
    // The line's newline, then the end of the string.
    i++;
    if (raw.charCodeAt(i) === 92 && raw.charCodeAt(i + 1) === 110) i += 2;
    if (raw.charCodeAt(i) !== 34) return -1;
    // The first break must be the closing quote itself: a raw control character or an unescaped
    // quote before it makes the record invalid JSON (the full parse gives that error).
    STRING_BREAK.lastIndex = start;
    if (!STRING_BREAK.test(raw) || STRING_BREAK.lastIndex !== i + 1) return -1;
    return i + 1;
  }

  /**
   * After a successful key-by-key read: when the same key order was read just before, compile it
   * (lines whose keys vary, as with omitted empty values, stay on the key-by-key read).
   */
  private learnShape(): void {
    const names = this.scanNames;
    const previous = this.previousNames;
    this.previousNames = names;
    this.scanNames = previous;
    if (names.length !== previous.length || names.some((n, i) => n !== previous[i])) return;
    const groupKey: number[] = [];
    const parts = names.map((n) => {
      const k = this.keyIndex.get(n) ?? -1;
      if (k >= 0) groupKey.push(k);
      return `\\\\"${escapeRegExp(n)}\\\\" *: *\\\\"${k >= 0 ? '(' : '(?:'}[^\\\\"\\x00-\\x1f]*)\\\\" *`;
    });
    const pattern = new RegExp(`\\{ *${parts.join(', *')}\\}(?:\\\\n)?"`, 'y');
    this.shapes.unshift({ pattern, groupKey });
    if (this.shapes.length > MAX_SHAPES) this.shapes.length = MAX_SHAPES;
    this.previousNames = [];
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** One present value into `out`; the malformed outcome when it is not what its field needs, else null. */
function assignValue(k: JsonKeyField, v: unknown, out: AccessRecord): ParseOutcome | null {
  const f = k.field;
  if (f === F.START_TIME) {
    const t =
      typeof v === 'number'
        ? v
        : typeof v === 'string'
          ? k.strftime === null
            ? parseIsoTime(v, 0, v.length)
            : k.strftime(v)
          : Number.NaN;
    if (Number.isNaN(t)) return bad(k.key, v, 'is not a time');
    out.startTime = t;
  } else if (isNumericField(f)) {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? toUint(v) : -1;
    if (n < 0) return bad(k.key, v, 'is not a number');
    assignNumber(out, f, n);
  } else if (typeof v === 'string') {
    // Istio 1.1.0 mapped "method" to %START_TIME% (reference §2): a method never starts with a digit.
    if (f === F.METHOD && v.charCodeAt(0) >= 48 && v.charCodeAt(0) <= 57) return null;
    assignString(out, f, v);
  } else if (typeof v === 'number' || typeof v === 'boolean') {
    assignString(out, f, String(v));
  }
  return null;
}

/** Skips plain spaces (some formats print `"key": "value", `); other whitespace takes the decoding path. */
function spaces(s: string, i: number): number {
  while (s.charCodeAt(i) === 32) i++;
  return i;
}

function toUint(s: string): number {
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function bad(key: string, v: unknown, what: string): ParseOutcome {
  return {
    kind: 'malformed',
    reason: `JSON access line: "${key}" ${what}: ${JSON.stringify(v)?.slice(0, 60)}`,
  };
}

export const envoyJsonParserSpec: ParserSpec = {
  name: 'envoy-json',
  summary: "Istio's JSON access-log encoding (its key set; `customJsonFormat` maps other keys).",
  examples: [
    {
      line: '{"start_time": "2025-12-14T15:04:12.558Z", "method": "GET", "path": "/status/200", "protocol": "HTTP/1.1", "response_code": "200", "response_flags": "-", "response_code_details": "via_upstream", "connection_termination_details": "-", "upstream_transport_failure_reason": "-", "bytes_received": "0", "bytes_sent": "59", "duration": "10", "upstream_service_time": "6", "x_forwarded_for": "-", "user_agent": "curl/8.14.1", "request_id": "0432d33a-0ffb-94fc-98fc-b9b322d5eaa3", "authority": "mock-server:8080", "upstream_host": "10.244.1.4:8080", "upstream_cluster": "outbound|8080||mock-server.default.svc.cluster.local", "upstream_local_address": "10.244.2.3:45178", "downstream_local_address": "10.96.191.168:8080", "downstream_remote_address": "10.244.2.3:34226", "requested_server_name": "-", "route_name": "-", "grpc_status": "-", "upstream_request_attempt_count": "1", "request_duration": "0", "response_duration": "10"}',
      source: 'GitHub ssup2/blog-software, istio-sidecar-proxy-access-log (an Istio JSON-shaped line)',
    },
  ],
  create: () => new EnvoyJsonParser(),
};
