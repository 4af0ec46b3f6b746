import type { ZtunnelFields } from './ztunnel.js';

/**
 * What the parsers produce. One `AccessRecord` is reused for every line (the hot path fills it in
 * place), so a parser must reset every field it owns. Absent values ("-" in Envoy) are `null`/NaN.
 * Only fields something downstream reads are here (%PROTOCOL% and the user agent are not: parsers
 * skip them without copying).
 */
export interface AccessRecord {
  /** %START_TIME% as epoch milliseconds; NaN when the line has none. */
  startTime: number;
  method: string | null;
  /** %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% */
  path: string | null;
  /** 0 when no response started (TCP, client reset). */
  responseCode: number;
  responseFlags: string | null;
  responseCodeDetails: string | null;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  requestId: string | null;
  authority: string | null;
  xForwardedFor: string | null;
  /** "ip:port" of the chosen upstream, or null. */
  upstreamHost: string | null;
  /** `outbound|443||example.com`, `PassthroughCluster`, `BlackHoleCluster`, `inbound|8000||` ... */
  upstreamCluster: string | null;
  /** %UPSTREAM_LOCAL_ADDRESS%: equals the downstream local IP on a gateway (it accepted on its own pod IP). */
  upstreamLocalAddress: string | null;
  downstreamLocalAddress: string | null;
  downstreamRemoteAddress: string | null;
  /** SNI on the downstream TLS socket. */
  requestedServerName: string | null;
  routeName: string | null;
  /** %DOWNSTREAM_PEER_URI_SAN%: the caller's SPIFFE id at the egress gateway, when logged. */
  peerPrincipal: string | null;
  /** A ztunnel (ambient mode) record's own fields; null for Envoy lines (reset by resetRecord). */
  ztunnel: ZtunnelFields | null;
  /** Fields after the last one the layout knows (a user's ` traceID=...` appended to the default format), kept as written. */
  trailing: string | null;
}

/** Kubernetes metadata a shipper put around the line; all optional. */
export interface ShipperMeta {
  namespace: string | null;
  pod: string | null;
  podIp: string | null;
  container: string | null;
  node: string | null;
  /** `service.istio.io/canonical-name`, else `app`, else the deployment name. */
  workload: string | null;
  /** Labels that tell the reporter: `istio` (egressgateway/ingressgateway), gateway-api gateway name. */
  istioLabel: string | null;
  gatewayName: string | null;
  /** Shipper's own timestamp (ms), used only when the access line has none. */
  shippedAt: number;
}

/** Where a line came from, for dead letters and evidence. */
export interface LineOrigin {
  /** File path, "stdin", or "kafka:TOPIC". */
  source: string;
  /** 1-based line number (files), or `partition/offset` (Kafka). */
  position: string;
}

export type LineClass = 'access' | 'proxy-log' | 'noise';

/**
 * The result of looking at one input line: an access record (the shared `record`/`meta` were
 * filled), a non-access proxy line to skip and count, or a malformed line to dead-letter.
 */
export type ParseOutcome =
  | { readonly kind: 'access' }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'malformed'; readonly reason: string };

/** One format parser: a bare access-log line (envelope already removed) into the shared record. */
export interface AccessLineParser {
  readonly format: string;
  /** Cheap check on the first bytes: could this parser read the line? */
  accepts(line: string): boolean;
  /** Fills `out`; never throws, never awaits. */
  parse(line: string, out: AccessRecord): ParseOutcome;
}

export function newAccessRecord(): AccessRecord {
  return {
    startTime: Number.NaN,
    method: null,
    path: null,
    responseCode: 0,
    responseFlags: null,
    responseCodeDetails: null,
    bytesReceived: 0,
    bytesSent: 0,
    durationMs: 0,
    requestId: null,
    authority: null,
    xForwardedFor: null,
    upstreamHost: null,
    upstreamCluster: null,
    upstreamLocalAddress: null,
    downstreamLocalAddress: null,
    downstreamRemoteAddress: null,
    requestedServerName: null,
    routeName: null,
    peerPrincipal: null,
    ztunnel: null,
    trailing: null,
  };
}

export function newShipperMeta(): ShipperMeta {
  return {
    namespace: null,
    pod: null,
    podIp: null,
    container: null,
    node: null,
    workload: null,
    istioLabel: null,
    gatewayName: null,
    shippedAt: Number.NaN,
  };
}
