/**
 * Renders a SimRecord as Istio writes it.
 *
 * TEXT is Istio's default `EnvoyTextLogFormat` (1.23+; the only one from 1.24 on):
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
 *   %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
 *   "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
 *   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 *   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW%
 *   %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
 *   %REQUESTED_SERVER_NAME% %ROUTE_NAME%
 *
 * JSON is Istio's `EnvoyJSONLogFormatIstio` key set (every value a string, absent = "-") plus
 * `downstream_peer_uri_san: %DOWNSTREAM_PEER_URI_SAN%`, as deploy/istio's meshConfig adds it, so
 * gateway legs carry the caller's SPIFFE id.
 */
import type { SimRecord } from './record.js';

export type LogFormat = 'text' | 'json';

export function renderText(r: SimRecord): string {
  return (
    `[${new Date(r.start).toISOString()}] "${r.method} ${r.path} ${r.protocol}" ${r.code} ${r.flags} ${r.details} ` +
    `${r.termination} "${r.tlsFailure}" ${r.bytesReceived} ${r.bytesSent} ${r.duration} ${r.upstreamServiceTime} ` +
    `"${r.xff}" "${r.userAgent}" "${r.requestId}" "${r.authority}" "${r.upstreamHost}" ${r.cluster} ` +
    `${r.upstreamLocal} ${r.downstreamLocal} ${r.downstreamRemote} ${r.sni} ${r.route}`
  );
}

export function renderJson(r: SimRecord): string {
  return JSON.stringify({
    start_time: new Date(r.start).toISOString(),
    route_name: r.route,
    method: r.method,
    path: r.path,
    protocol: r.protocol,
    response_code: String(r.code),
    response_flags: r.flags,
    response_code_details: r.details,
    connection_termination_details: r.termination,
    upstream_transport_failure_reason: r.tlsFailure,
    bytes_received: String(r.bytesReceived),
    bytes_sent: String(r.bytesSent),
    duration: String(r.duration),
    upstream_service_time: r.upstreamServiceTime,
    x_forwarded_for: r.xff,
    user_agent: r.userAgent,
    request_id: r.requestId,
    authority: r.authority,
    upstream_host: r.upstreamHost,
    upstream_cluster: r.cluster,
    upstream_local_address: r.upstreamLocal,
    downstream_local_address: r.downstreamLocal,
    downstream_remote_address: r.downstreamRemote,
    requested_server_name: r.sni,
    downstream_peer_uri_san: r.peerUriSan,
  });
}

export function renderLine(r: SimRecord, format: LogFormat): string {
  return format === 'json' ? renderJson(r) : renderText(r);
}
