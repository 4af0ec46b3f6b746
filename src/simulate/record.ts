/**
 * One access-log line before rendering: the Envoy command-operator values of Istio's default format
 * (plus `%DOWNSTREAM_PEER_URI_SAN%`), the pod whose istio-proxy wrote it, and when the shipper
 * delivers it. Builders below make the legs of each kind of request with consistent addresses.
 */
import { hash32, type Rng } from './rng.js';
import { externalIp, GATEWAY_HTTP_PORT, GATEWAY_TLS_PORT, gatewayFqdn, type Pod } from './topology.js';

export interface SimRecord {
  /** %START_TIME%, epoch ms. */
  start: number;
  /** When the shipper hands the line on: end of the request plus shipper jitter. Sort key. */
  emit: number;
  reporter: Pod;
  method: string;
  path: string;
  protocol: string;
  code: number;
  flags: string;
  details: string;
  termination: string;
  tlsFailure: string;
  bytesReceived: number;
  bytesSent: number;
  duration: number;
  upstreamServiceTime: string;
  xff: string;
  userAgent: string;
  requestId: string;
  authority: string;
  upstreamHost: string;
  cluster: string;
  upstreamLocal: string;
  downstreamLocal: string;
  downstreamRemote: string;
  sni: string;
  route: string;
  peerUriSan: string;
  /** The external host of a connection through the egress gateway (both legs), else `-`; not rendered. */
  host: string;
}

/** A TCP-shaped record with every field set (one object shape, so V8 keeps it fast). */
function tcpRecord(start: number, emit: number, reporter: Pod): SimRecord {
  return {
    start,
    emit,
    reporter,
    method: '-',
    path: '-',
    protocol: '-',
    code: 0,
    flags: '-',
    details: '-',
    termination: '-',
    tlsFailure: '-',
    bytesReceived: 0,
    bytesSent: 0,
    duration: 0,
    upstreamServiceTime: '-',
    xff: '-',
    userAgent: '-',
    requestId: '-',
    authority: '-',
    upstreamHost: '-',
    cluster: '-',
    upstreamLocal: '-',
    downstreamLocal: '-',
    downstreamRemote: '-',
    sni: '-',
    route: '-',
    peerUriSan: '-',
    host: '-',
  };
}

function setHttp(r: SimRecord, call: HttpCall): SimRecord {
  r.method = call.method;
  r.path = call.path;
  r.protocol = 'HTTP/1.1';
  r.code = call.code;
  r.details = 'via_upstream';
  r.bytesReceived = call.bytesUp;
  r.bytesSent = call.bytesDown;
  r.userAgent = call.userAgent;
  return r;
}

function ephemeral(rng: Rng): number {
  return rng.int(32768, 60999);
}

function shipped(rng: Rng, start: number, duration: number): number {
  return start + duration + rng.int(200, 4000);
}

export interface TlsTransfer {
  host: string;
  port: number;
  bytesUp: number;
  bytesDown: number;
  duration: number;
}

/**
 * The caller's sidecar leg of a TCP transfer to `t.host` sent to the gateway's mTLS port (cluster
 * `outbound|clusterPort|subset|gateway`); `hopPort` is the connection's port on the caller, which the
 * gateway's leg logs as its downstream remote port.
 */
function sidecarLegToGateway(
  rng: Rng,
  start: number,
  caller: Pod,
  gateway: Pod,
  subset: string,
  clusterPort: number,
  hopPort: number,
  t: TlsTransfer,
): SimRecord {
  const sidecar = tcpRecord(start, shipped(rng, start, t.duration), caller);
  sidecar.bytesReceived = t.bytesUp;
  sidecar.bytesSent = t.bytesDown;
  sidecar.duration = t.duration;
  sidecar.upstreamHost = `${gateway.ip}:${GATEWAY_TLS_PORT}`;
  sidecar.cluster = `outbound|${clusterPort}|${subset}|${gatewayFqdn(gateway)}`;
  sidecar.upstreamLocal = `${caller.ip}:${hopPort}`;
  sidecar.downstreamLocal = `${externalIp(t.host)}:${t.port}`;
  sidecar.downstreamRemote = `${caller.ip}:${ephemeral(rng)}`;
  sidecar.host = t.host;
  return sidecar;
}

/**
 * TLS egress routed through the egress gateway: the caller's sidecar leg to the gateway, and (unless
 * the gateway is silent) the gateway's leg out, whose downstream remote address is the sidecar
 * leg's upstream local address and whose peer URI SAN is the caller's principal.
 */
export function tlsViaGateway(
  rng: Rng,
  start: number,
  caller: Pod,
  gateway: Pod,
  subset: string,
  t: TlsTransfer,
  gatewayLogs: boolean,
): SimRecord[] {
  const hopPort = ephemeral(rng);
  const sidecar = sidecarLegToGateway(rng, start, caller, gateway, subset, t.port, hopPort, t);
  sidecar.sni = t.host;
  if (!gatewayLogs) return [sidecar];
  const gwStart = start + rng.int(1, 4);
  const gatewayLeg = gatewayLegOnly(rng, gwStart, gateway, caller.ip, caller.principal, {
    ...t,
    duration: Math.max(0, t.duration - rng.int(0, 3)),
  });
  gatewayLeg.downstreamRemote = `${caller.ip}:${hopPort}`;
  return [sidecar, gatewayLeg];
}

/**
 * TLS through an egress gateway that forwards by SNI through an Envoy internal listener (istio.io blog
 * 2023/egress-sni, the `egressgateway` in `istio-egress`): one connection is three lines, the sidecar's
 * leg, the gateway's outer leg (from the sidecar's hop address into `envoy://sni_listener/` via
 * `sni_cluster`; its bytes include the mTLS around the app's stream; its SNI is Istio's own) and its
 * inner leg (from `envoy://internal_client_address/` out through `dynamic_forward_proxy_cluster` to
 * the host the app's SNI names; same start as the outer leg, the app's bytes exactly), as published.
 */
export function tlsViaSniForwarder(
  rng: Rng,
  start: number,
  caller: Pod,
  gateway: Pod,
  subset: string,
  t: TlsTransfer,
  gatewayLogs: boolean,
): SimRecord[] {
  const [sidecar] = tlsViaGateway(rng, start, caller, gateway, subset, t, false) as [SimRecord];
  if (!gatewayLogs) return [sidecar];
  const gwStart = start + rng.int(1, 6);
  const duration = Math.max(0, t.duration - rng.int(0, 6));
  const outer = tcpRecord(gwStart, shipped(rng, gwStart, duration), gateway);
  // The mTLS handshake (certificates both ways) and record framing around the app's TLS stream.
  outer.bytesReceived = t.bytesUp + rng.int(700, 760);
  outer.bytesSent = t.bytesDown + rng.int(780, 840) + Math.floor(t.bytesDown / 16_384) * 29;
  outer.duration = duration;
  outer.upstreamHost = 'envoy://sni_listener/';
  outer.cluster = 'sni_cluster';
  outer.upstreamLocal = 'envoy://internal_client_address/';
  outer.downstreamLocal = `${gateway.ip}:${GATEWAY_TLS_PORT}`;
  outer.downstreamRemote = sidecar.upstreamLocal;
  outer.sni = `outbound_.${t.port}_.${subset}_.${gatewayFqdn(gateway)}`;
  outer.peerUriSan = caller.principal;
  outer.host = t.host;
  const inner = tcpRecord(gwStart, shipped(rng, gwStart, duration), gateway);
  inner.bytesReceived = t.bytesUp;
  inner.bytesSent = t.bytesDown;
  inner.duration = Math.max(0, duration - rng.int(0, 1));
  inner.upstreamHost = `${externalIp(t.host)}:${t.port}`;
  inner.cluster = 'dynamic_forward_proxy_cluster';
  inner.upstreamLocal = `${gateway.ip}:${ephemeral(rng)}`;
  inner.downstreamLocal = 'envoy://sni_listener/';
  inner.downstreamRemote = 'envoy://internal_client_address/';
  inner.sni = t.host;
  inner.host = t.host;
  return [sidecar, outer, inner];
}

/** A gateway leg with no sidecar leg behind it: a client outside the mesh (or a forged identity). */
export function gatewayLegOnly(
  rng: Rng,
  start: number,
  gateway: Pod,
  clientIp: string,
  peerUriSan: string,
  t: TlsTransfer,
): SimRecord {
  const ip = externalIp(t.host);
  const r = tcpRecord(start, shipped(rng, start, t.duration), gateway);
  r.bytesReceived = t.bytesUp;
  r.bytesSent = t.bytesDown;
  r.duration = t.duration;
  r.upstreamHost = `${ip}:${t.port}`;
  r.cluster = `outbound|${t.port}||${t.host}`;
  r.upstreamLocal = `${gateway.ip}:${ephemeral(rng)}`;
  r.downstreamLocal = `${gateway.ip}:${GATEWAY_TLS_PORT}`;
  r.downstreamRemote = `${clientIp}:${ephemeral(rng)}`;
  r.sni = t.host;
  r.peerUriSan = peerUriSan;
  r.host = t.host;
  return r;
}

/**
 * The SNI of the sidecar-to-gateway mTLS hop (ISTIO_MUTUAL), which the gateway logs: `host` when the
 * DestinationRule for the gateway sets `sni:` to the external host (istio.io's TLS-origination and
 * TCP tasks), `istio` when it does not (Istio's own `outbound_.PORT_.SUBSET_.FQDN`, not a host).
 */
export type HopSni = 'host' | 'istio';

function hopSniOf(kind: HopSni, host: string, port: number, subset: string, gateway: Pod): string {
  return kind === 'host' ? host : `outbound_.${port}_.${subset}_.${gatewayFqdn(gateway)}`;
}

/**
 * Plain TCP through the egress gateway (e.g. MongoDB on 27017; the app sends no TLS): the sidecar's
 * line knows only the IP the app dialled (no SNI, no authority); the gateway's line names the host
 * in `outbound|PORT||HOST` and logs the hop's SNI (`hopSni`). The two share the connection's address:
 * the sidecar's upstream local address is the gateway's downstream remote address.
 */
export function tcpViaGateway(
  rng: Rng,
  start: number,
  caller: Pod,
  gateway: Pod,
  subset: string,
  t: TlsTransfer,
  gatewayLogs: boolean,
  hopSni: HopSni,
): SimRecord[] {
  const hopPort = ephemeral(rng);
  // The sidecar routes to the gateway on port 443 whatever the database port.
  const sidecar = sidecarLegToGateway(rng, start, caller, gateway, subset, 443, hopPort, t);
  if (!gatewayLogs) return [sidecar];
  const ip = externalIp(t.host);
  const gwStart = start + rng.int(1, 4);
  const leg = tcpRecord(gwStart, shipped(rng, gwStart, t.duration), gateway);
  leg.bytesReceived = t.bytesUp;
  leg.bytesSent = t.bytesDown;
  leg.duration = Math.max(0, t.duration - rng.int(0, 3));
  leg.upstreamHost = `${ip}:${t.port}`;
  leg.cluster = `outbound|${t.port}||${t.host}`;
  leg.upstreamLocal = `${gateway.ip}:${ephemeral(rng)}`;
  leg.downstreamLocal = `${gateway.ip}:${GATEWAY_TLS_PORT}`;
  leg.downstreamRemote = `${caller.ip}:${hopPort}`;
  leg.sni = hopSniOf(hopSni, t.host, 443, subset, gateway);
  leg.peerUriSan = caller.principal;
  leg.host = t.host;
  return [sidecar, leg];
}

/**
 * HTTP from the app with TLS originated at the egress gateway (istio.io "Egress gateways with TLS
 * origination"): both legs are HTTP with the same request id; the sidecar sends to the gateway's
 * port 80 over a pooled mTLS connection (many requests share its address), the gateway sends HTTPS
 * to the host on 443 and logs the hop's SNI (`hopSni`).
 */
export function httpViaGateway(
  rng: Rng,
  start: number,
  caller: Pod,
  gateway: Pod,
  subset: string,
  host: string,
  call: HttpCall,
  gatewayLogs: boolean,
  hopSni: HopSni,
): SimRecord[] {
  const ip = externalIp(host);
  const requestId = rng.uuid();
  // One pooled upstream connection per caller pod and gateway pod for a few minutes.
  const pooled =
    32768 + (hash32(`${caller.ip}|${gateway.ip}|${subset}|${Math.floor(start / 300_000)}`) % 28000);
  const sidecar = setHttp(tcpRecord(start, shipped(rng, start, call.duration), caller), call);
  sidecar.duration = call.duration;
  sidecar.upstreamServiceTime = String(Math.max(0, call.duration - 1));
  sidecar.requestId = requestId;
  sidecar.authority = host;
  sidecar.upstreamHost = `${gateway.ip}:${GATEWAY_HTTP_PORT}`;
  sidecar.cluster = `outbound|80|${subset}|${gatewayFqdn(gateway)}`;
  sidecar.upstreamLocal = `${caller.ip}:${pooled}`;
  sidecar.downstreamLocal = `${ip}:80`;
  sidecar.downstreamRemote = `${caller.ip}:${ephemeral(rng)}`;
  sidecar.route = `${host}:80`;
  sidecar.host = host;
  if (!gatewayLogs) return [sidecar];
  const gwStart = start + rng.int(1, 3);
  const gwDuration = Math.max(0, call.duration - rng.int(0, 2));
  const leg = setHttp(tcpRecord(gwStart, shipped(rng, gwStart, gwDuration), gateway), call);
  leg.duration = gwDuration;
  leg.upstreamServiceTime = String(Math.max(0, gwDuration - 1));
  leg.requestId = requestId;
  leg.authority = host;
  leg.xff = caller.ip;
  leg.upstreamHost = `${ip}:443`;
  leg.cluster = `outbound|443||${host}`;
  leg.upstreamLocal = `${gateway.ip}:${ephemeral(rng)}`;
  leg.downstreamLocal = `${gateway.ip}:${GATEWAY_HTTP_PORT}`;
  leg.downstreamRemote = `${caller.ip}:${pooled}`;
  leg.sni = hopSniOf(hopSni, host, 80, subset, gateway);
  leg.route = `${subset}-through-egress-gateway`;
  leg.peerUriSan = caller.principal;
  leg.host = host;
  return [sidecar, leg];
}

export interface HttpCall {
  method: string;
  path: string;
  code: number;
  bytesUp: number;
  bytesDown: number;
  duration: number;
  userAgent: string;
}

/** An in-mesh HTTP call: the client's outbound line and the server's inbound line, one request id. */
export function inMeshHttp(
  rng: Rng,
  start: number,
  client: Pod,
  server: Pod,
  serviceHost: string,
  servicePort: number,
  serviceVip: string,
  call: HttpCall,
): SimRecord[] {
  const requestId = rng.uuid();
  const hopPort = ephemeral(rng);
  const serverTime = Math.max(0, call.duration - rng.int(0, 2));
  const authority = `${serviceHost.slice(0, serviceHost.indexOf('.'))}:${servicePort}`;
  const outbound = setHttp(tcpRecord(start, shipped(rng, start, call.duration), client), call);
  outbound.duration = call.duration;
  outbound.upstreamServiceTime = String(serverTime);
  outbound.requestId = requestId;
  outbound.authority = authority;
  outbound.upstreamHost = `${server.ip}:${servicePort}`;
  outbound.cluster = `outbound|${servicePort}||${serviceHost}`;
  outbound.upstreamLocal = `${client.ip}:${hopPort}`;
  outbound.downstreamLocal = `${serviceVip}:${servicePort}`;
  outbound.downstreamRemote = `${client.ip}:${ephemeral(rng)}`;
  outbound.route = 'default';
  const inbound = setHttp(tcpRecord(start + 1, shipped(rng, start + 1, serverTime), server), call);
  inbound.duration = serverTime;
  inbound.upstreamServiceTime = String(Math.max(0, serverTime - 1));
  inbound.requestId = requestId;
  inbound.authority = authority;
  inbound.upstreamHost = `${server.ip}:${servicePort}`;
  inbound.cluster = `inbound|${servicePort}||`;
  inbound.upstreamLocal = `127.0.0.6:${ephemeral(rng)}`;
  inbound.downstreamLocal = `${server.ip}:${servicePort}`;
  inbound.downstreamRemote = `${client.ip}:${hopPort}`;
  inbound.sni = `outbound_.${servicePort}_._.${serviceHost}`;
  inbound.route = 'default';
  inbound.peerUriSan = client.principal;
  return [outbound, inbound];
}

/** A sidecar sending straight out through PassthroughCluster (ALLOW_ANY): TLS, so no host name. */
export function passthroughTls(
  rng: Rng,
  start: number,
  caller: Pod,
  ip: string,
  port: number,
  t: Omit<TlsTransfer, 'host' | 'port'>,
): SimRecord {
  const local = ephemeral(rng);
  const r = tcpRecord(start, shipped(rng, start, t.duration), caller);
  r.bytesReceived = t.bytesUp;
  r.bytesSent = t.bytesDown;
  r.duration = t.duration;
  r.upstreamHost = `${ip}:${port}`;
  r.cluster = 'PassthroughCluster';
  r.upstreamLocal = `${caller.ip}:${local + 1}`;
  r.downstreamLocal = `${ip}:${port}`;
  r.downstreamRemote = `${caller.ip}:${local}`;
  return r;
}

/** Plain HTTP through PassthroughCluster (route `allow_any`): the authority names the host. */
export function passthroughHttp(
  rng: Rng,
  start: number,
  caller: Pod,
  host: string,
  call: HttpCall,
): SimRecord {
  const ip = externalIp(host);
  const local = ephemeral(rng);
  const r = setHttp(tcpRecord(start, shipped(rng, start, call.duration), caller), call);
  r.duration = call.duration;
  r.upstreamServiceTime = String(Math.max(0, call.duration - 1));
  r.requestId = rng.uuid();
  r.authority = host;
  r.upstreamHost = `${ip}:80`;
  r.cluster = 'PassthroughCluster';
  r.upstreamLocal = `${caller.ip}:${local + 1}`;
  r.downstreamLocal = `${ip}:80`;
  r.downstreamRemote = `${caller.ip}:${local}`;
  r.route = 'allow_any';
  return r;
}

/** A connection dropped by BlackHoleCluster (REGISTRY_ONLY): code 0, flag UH, no upstream. */
export function blackhole(rng: Rng, start: number, caller: Pod, ip: string, port: number): SimRecord {
  const r = tcpRecord(start, shipped(rng, start, 0), caller);
  r.flags = 'UH';
  r.cluster = 'BlackHoleCluster';
  r.downstreamLocal = `${ip}:${port}`;
  r.downstreamRemote = `${caller.ip}:${ephemeral(rng)}`;
  return r;
}
