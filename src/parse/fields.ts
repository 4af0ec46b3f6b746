/**
 * The Envoy command operators egress-sentinel reads, and how each one lands in an AccessRecord.
 * Shared by the TEXT compiler, the JSON key map and the custom-format compiler, so a command means
 * the same thing in every encoding. Commands not listed here are skipped without being sliced:
 * that includes %PROTOCOL% and %REQ(USER-AGENT)%, which nothing downstream reads (the event's
 * protocol comes from the method and SNI, see identity/normalizer.ts).
 */
import type { AccessRecord } from './types.js';

export const F = {
  SKIP: 0,
  START_TIME: 1,
  METHOD: 2,
  PATH: 3,
  RESPONSE_CODE: 5,
  RESPONSE_FLAGS: 6,
  RESPONSE_CODE_DETAILS: 7,
  BYTES_RECEIVED: 8,
  BYTES_SENT: 9,
  DURATION: 10,
  REQUEST_ID: 11,
  AUTHORITY: 12,
  XFF: 14,
  UPSTREAM_HOST: 15,
  /** %UPSTREAM_CLUSTER%: pre-1.23 proxies may append a `;` (alt_stat_name), stripped. */
  UPSTREAM_CLUSTER: 16,
  UPSTREAM_CLUSTER_RAW: 17,
  DOWNSTREAM_LOCAL_ADDRESS: 18,
  DOWNSTREAM_REMOTE_ADDRESS: 19,
  REQUESTED_SERVER_NAME: 20,
  ROUTE_NAME: 21,
  PEER_URI_SAN: 22,
  UPSTREAM_LOCAL_ADDRESS: 23,
} as const;
export type FieldId = (typeof F)[keyof typeof F];

/** Numeric fields, for the "is not a number" check. */
export function isNumericField(f: FieldId): boolean {
  return f === F.RESPONSE_CODE || f === F.BYTES_RECEIVED || f === F.BYTES_SENT || f === F.DURATION;
}

const SIMPLE: Record<string, FieldId> = {
  START_TIME: F.START_TIME,
  RESPONSE_CODE: F.RESPONSE_CODE,
  RESPONSE_FLAGS: F.RESPONSE_FLAGS,
  RESPONSE_CODE_DETAILS: F.RESPONSE_CODE_DETAILS,
  BYTES_RECEIVED: F.BYTES_RECEIVED,
  BYTES_SENT: F.BYTES_SENT,
  DURATION: F.DURATION,
  UPSTREAM_HOST: F.UPSTREAM_HOST,
  UPSTREAM_CLUSTER: F.UPSTREAM_CLUSTER,
  UPSTREAM_CLUSTER_RAW: F.UPSTREAM_CLUSTER_RAW,
  DOWNSTREAM_LOCAL_ADDRESS: F.DOWNSTREAM_LOCAL_ADDRESS,
  UPSTREAM_LOCAL_ADDRESS: F.UPSTREAM_LOCAL_ADDRESS,
  DOWNSTREAM_REMOTE_ADDRESS: F.DOWNSTREAM_REMOTE_ADDRESS,
  REQUESTED_SERVER_NAME: F.REQUESTED_SERVER_NAME,
  ROUTE_NAME: F.ROUTE_NAME,
  DOWNSTREAM_PEER_URI_SAN: F.PEER_URI_SAN,
};

const HEADERS: Record<string, FieldId> = {
  ':method': F.METHOD,
  ':path': F.PATH,
  'x-envoy-original-path?:path': F.PATH,
  'x-envoy-original-path': F.PATH,
  ':authority': F.AUTHORITY,
  host: F.AUTHORITY,
  'x-request-id': F.REQUEST_ID,
  'x-forwarded-for': F.XFF,
};

/** Maps `%COMMAND(arg)%` onto a field; SKIP for anything nothing downstream reads. */
export function fieldForCommand(command: string, arg: string | null): FieldId {
  if (command === 'REQ' && arg !== null) return HEADERS[arg.toLowerCase()] ?? F.SKIP;
  return SIMPLE[command] ?? F.SKIP;
}

export function resetRecord(r: AccessRecord): void {
  r.startTime = Number.NaN;
  r.method = null;
  r.path = null;
  r.responseCode = 0;
  r.responseFlags = null;
  r.responseCodeDetails = null;
  r.bytesReceived = 0;
  r.bytesSent = 0;
  r.durationMs = 0;
  r.requestId = null;
  r.authority = null;
  r.xForwardedFor = null;
  r.upstreamHost = null;
  r.upstreamCluster = null;
  r.upstreamLocalAddress = null;
  r.downstreamLocalAddress = null;
  r.downstreamRemoteAddress = null;
  r.requestedServerName = null;
  r.routeName = null;
  r.peerPrincipal = null;
  r.ztunnel = null;
  r.trailing = null;
}

/** Reads a non-negative integer from `s[start, end)`; `-` or empty is 0; -1 when not a number. */
export function readUint(s: string, start: number, end: number): number {
  if (end - start === 1 && s.charCodeAt(start) === 45) return 0;
  if (end <= start) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Assigns a string field (`-` means absent). Numeric and time fields are handled by the caller. */
export function assignString(r: AccessRecord, f: FieldId, v: string | null): void {
  switch (f) {
    case F.METHOD:
      r.method = v;
      break;
    case F.PATH:
      r.path = v;
      break;
    case F.RESPONSE_FLAGS:
      r.responseFlags = v;
      break;
    case F.RESPONSE_CODE_DETAILS:
      r.responseCodeDetails = v;
      break;
    case F.REQUEST_ID:
      r.requestId = v;
      break;
    case F.AUTHORITY:
      r.authority = v;
      break;
    case F.XFF:
      r.xForwardedFor = v;
      break;
    case F.UPSTREAM_HOST:
      r.upstreamHost = v;
      break;
    case F.UPSTREAM_CLUSTER:
      r.upstreamCluster = v !== null && v.charCodeAt(v.length - 1) === 59 ? v.slice(0, -1) : v;
      break;
    case F.UPSTREAM_CLUSTER_RAW:
      r.upstreamCluster = v;
      break;
    case F.UPSTREAM_LOCAL_ADDRESS:
      r.upstreamLocalAddress = v;
      break;
    case F.DOWNSTREAM_LOCAL_ADDRESS:
      r.downstreamLocalAddress = v;
      break;
    case F.DOWNSTREAM_REMOTE_ADDRESS:
      r.downstreamRemoteAddress = v;
      break;
    case F.REQUESTED_SERVER_NAME:
      r.requestedServerName = v;
      break;
    case F.ROUTE_NAME:
      r.routeName = v;
      break;
    case F.PEER_URI_SAN:
      r.peerPrincipal = v;
      break;
  }
}

export function assignNumber(r: AccessRecord, f: FieldId, v: number): void {
  switch (f) {
    case F.RESPONSE_CODE:
      r.responseCode = v;
      break;
    case F.BYTES_RECEIVED:
      r.bytesReceived = v;
      break;
    case F.BYTES_SENT:
      r.bytesSent = v;
      break;
    case F.DURATION:
      r.durationMs = v;
      break;
  }
}
