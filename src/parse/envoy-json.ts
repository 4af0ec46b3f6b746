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
import { parseIsoTime } from './time.js';
import type { AccessLineParser, AccessRecord, ParseOutcome } from './types.js';

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
  return o.start_time !== undefined || o.response_code !== undefined || o.upstream_cluster !== undefined;
}

export class EnvoyJsonParser implements AccessLineParser {
  readonly format: string;
  private readonly keys: readonly JsonKeyField[];

  constructor(map: Readonly<Record<string, string>> = ISTIO_JSON_FORMAT, name = 'envoy-json') {
    this.keys = compileJsonFormat(map);
    this.format = name;
  }

  accepts(line: string): boolean {
    return line.charCodeAt(0) === 123;
  }

  parse(line: string, out: AccessRecord): ParseOutcome {
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      resetRecord(out);
      return {
        kind: 'malformed',
        reason: `JSON access line: not valid JSON (${(err as Error).message})`,
      };
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      resetRecord(out);
      return {
        kind: 'malformed',
        reason: 'JSON access line: not a JSON object',
      };
    }
    return this.fill(obj as Record<string, unknown>, out);
  }

  /** Fills `out` from an already-parsed object (envelopes with merged logs, OTLP attributes). */
  fill(obj: Record<string, unknown>, out: AccessRecord): ParseOutcome {
    resetRecord(out);
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as JsonKeyField;
      const v = obj[k.key];
      if (v === undefined || v === null || v === '-' || v === '') continue;
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
        if (f === F.METHOD && v.charCodeAt(0) >= 48 && v.charCodeAt(0) <= 57) continue;
        assignString(out, f, v);
      } else if (typeof v === 'number' || typeof v === 'boolean') {
        assignString(out, f, String(v));
      }
    }
    return ACCESS;
  }
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
