/** Realistic Istio access lines in Fluent Bit envelopes, for the parse benchmark. */
import { randomUUID } from 'node:crypto';

const HOSTS = [
  'api.stripe.com',
  'edition.cnn.com',
  'www.googleapis.com',
  'sqs.eu-west-1.amazonaws.com',
  'github.com',
  'registry.npmjs.org',
];
const APPS = ['checkout', 'payments', 'reviews', 'ratings', 'frontend', 'cart', 'search', 'emails'];

function pick<T>(xs: readonly T[], i: number): T {
  return xs[i % xs.length] as T;
}

const PODS = 50;
const podIds = Array.from({ length: PODS }, () => randomUUID());

/**
 * Fluent Bit kubernetes metadata of pod `i % PODS` (many lines per pod, interleaved as in a topic),
 * with the keys the kubernetes filter writes (Annotations Off, as many deployments run it). The same
 * block surrounds both the JSON and the TEXT lines, so the two cases differ only in the access line.
 */
function kubernetes(line: number): Record<string, unknown> {
  const i = line % PODS;
  const app = pick(APPS, i);
  return {
    pod_name: `${app}-v1-6c9f7b8d4-${(10000 + i).toString(36).slice(-5)}`,
    namespace_name: `team-${i % 5}`,
    pod_id: podIds[i],
    labels: {
      app,
      'pod-template-hash': '6c9f7b8d4',
      'security.istio.io/tlsMode': 'istio',
      'service.istio.io/canonical-name': app,
      'service.istio.io/canonical-revision': 'v1',
    },
    host: `node-${i % 7}`,
    pod_ip: podIp(i),
    container_name: 'istio-proxy',
    container_image: 'docker.io/istio/proxyv2:1.22.3',
  };
}

function podIp(line: number): string {
  const i = line % PODS;
  return `10.244.${i}.${(i * 7) % 250}`;
}

function startTime(i: number): string {
  return new Date(Date.UTC(2025, 0, 1) + i * 37).toISOString();
}

/** One egress request, rendered below as Istio JSON or TEXT: two in three are HTTP, one is TLS passthrough. */
function request(i: number) {
  const host = pick(HOSTS, i);
  const ip = `34.${i % 250}.${(i * 3) % 250}.${(i * 11) % 250}`;
  const http = i % 3 !== 0;
  return {
    start: startTime(i),
    http,
    method: http ? pick(['GET', 'POST'], i) : '-',
    path: http ? `/v1/${pick(['charges', 'customers', 'objects'], i)}/${i}` : '-',
    protocol: http ? 'HTTP/1.1' : '-',
    code: http ? pick(['200', '201', '404'], i) : '0',
    details: http ? 'via_upstream' : '-',
    received: String(http ? 200 + (i % 900) : 800 + (i % 4000)),
    sent: String(http ? 1000 + (i % 5000) : 5000 + (i % 50000)),
    duration: String(10 + (i % 300)),
    serviceTime: http ? String(9 + (i % 290)) : '-',
    ua: http
      ? pick(['Stripe/v1 NodeBindings/14.5.0', 'python-requests/2.31.0', 'Go-http-client/1.1'], i)
      : '-',
    requestId: http ? randomUUID() : '-',
    authority: http ? host : '-',
    upstreamHost: `${ip}:443`,
    cluster: http ? `outbound|443||${host}` : 'PassthroughCluster',
    upstreamLocal: `${podIp(i)}:${40000 + (i % 20000)}`,
    downstreamLocal: `${ip}:443`,
    downstreamRemote: `${podIp(i)}:${30000 + (i % 20000)}`,
    sni: host,
    route: http ? 'default' : '-',
  };
}

function envelope(i: number, log: string): string {
  // Docker json-file runtime order (`log`, `stream`, `time`), then the kubernetes filter's block.
  return JSON.stringify({ log, stream: 'stdout', time: startTime(i), kubernetes: kubernetes(i) });
}

export function jsonLine(i: number): string {
  const r = request(i);
  const inner = {
    start_time: r.start,
    route_name: r.route,
    method: r.method,
    path: r.path,
    protocol: r.protocol,
    response_code: r.code,
    response_flags: '-',
    response_code_details: r.details,
    connection_termination_details: '-',
    bytes_received: r.received,
    bytes_sent: r.sent,
    duration: r.duration,
    upstream_service_time: r.serviceTime,
    x_forwarded_for: '-',
    user_agent: r.ua,
    request_id: r.requestId,
    authority: r.authority,
    upstream_host: r.upstreamHost,
    upstream_cluster: r.cluster,
    upstream_local_address: r.upstreamLocal,
    downstream_local_address: r.downstreamLocal,
    downstream_remote_address: r.downstreamRemote,
    requested_server_name: r.sni,
    upstream_transport_failure_reason: '-',
  };
  return envelope(i, `${JSON.stringify(inner)}\n`);
}

/** Istio 1.9+ default TEXT format (reference §1.2). */
export function textLine(i: number): string {
  const r = request(i);
  const req = r.http ? `${r.method} ${r.path} ${r.protocol}` : '- - -';
  const line = `[${r.start}] "${req}" ${r.code} - ${r.details} - "-" ${r.received} ${r.sent} ${r.duration} ${r.serviceTime} "-" "${r.ua}" "${r.requestId}" "${r.authority}" "${r.upstreamHost}" ${r.cluster} ${r.upstreamLocal} ${r.downstreamLocal} ${r.downstreamRemote} ${r.sni} ${r.route}\n`;
  return envelope(i, line);
}
