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

/** Fluent Bit kubernetes metadata of pod `i % PODS` (many lines per pod, interleaved as in a topic). */
function kubernetes(line: number): Record<string, unknown> {
  const i = line % PODS;
  const app = pick(APPS, i);
  return {
    pod_name: `${app}-v1-6c9f7b8d4-${(10000 + i).toString(36).slice(-5)}`,
    namespace_name: `team-${i % 5}`,
    pod_id: podIds[i],
    labels: {
      app,
      version: 'v1',
      'pod-template-hash': '6c9f7b8d4',
      'security.istio.io/tlsMode': 'istio',
      'service.istio.io/canonical-name': app,
      'service.istio.io/canonical-revision': 'v1',
    },
    annotations: {
      'kubectl.kubernetes.io/default-container': app,
      'sidecar.istio.io/status': '{"initContainers":["istio-init"]}',
    },
    host: `node-${i % 7}`,
    pod_ip: `10.244.${i}.${(i * 7) % 250}`,
    container_name: 'istio-proxy',
    docker_id: randomUUID().replace(/-/g, ''),
    container_hash:
      'docker.io/istio/proxyv2@sha256:2b2b5a2f0a1c3c6e9f8d7b6a5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d',
    container_image: 'docker.io/istio/proxyv2:1.22.3',
  };
}

function startTime(i: number): string {
  return new Date(Date.UTC(2025, 0, 1) + i * 37).toISOString();
}

export function jsonLine(i: number): string {
  const host = pick(HOSTS, i);
  const ip = `34.${i % 250}.${(i * 3) % 250}.${(i * 11) % 250}`;
  const inner = {
    start_time: startTime(i),
    route_name: 'default',
    method: 'POST',
    path: `/v1/charges/${i}?expand=customer`,
    protocol: 'HTTP/1.1',
    response_code: '200',
    response_flags: '-',
    response_code_details: 'via_upstream',
    connection_termination_details: '-',
    bytes_received: String(200 + (i % 900)),
    bytes_sent: String(1000 + (i % 5000)),
    duration: String(10 + (i % 300)),
    upstream_service_time: String(9 + (i % 290)),
    x_forwarded_for: '-',
    user_agent: 'Stripe/v1 NodeBindings/14.5.0',
    request_id: randomUUID(),
    authority: host,
    upstream_host: `${ip}:443`,
    upstream_cluster: `outbound|443||${host}`,
    upstream_local_address: `10.244.${i % PODS}.${((i % PODS) * 7) % 250}:${40000 + (i % 20000)}`,
    downstream_local_address: `${ip}:443`,
    downstream_remote_address: `10.244.${i % PODS}.${((i % PODS) * 7) % 250}:${30000 + (i % 20000)}`,
    requested_server_name: host,
    upstream_transport_failure_reason: '-',
  };
  return JSON.stringify({
    time: startTime(i),
    stream: 'stdout',
    logtag: 'F',
    log: JSON.stringify(inner),
    kubernetes: kubernetes(i),
  });
}

export function textLine(i: number): string {
  const host = pick(HOSTS, i);
  const ip = `34.${i % 250}.${(i * 3) % 250}.${(i * 11) % 250}`;
  const pod = `10.244.${i % PODS}.${((i % PODS) * 7) % 250}`;
  const line = `[${startTime(i)}] "- - -" 0 - - - "-" ${200 + (i % 900)} ${1000 + (i % 5000)} ${10 + (i % 300)} - "-" "-" "-" "-" "${ip}:443" outbound|443||${host} ${pod}:${40000 + (i % 20000)} ${ip}:443 ${pod}:${30000 + (i % 20000)} ${host} -`;
  const k = kubernetes(i);
  delete k.annotations;
  delete k.docker_id;
  return JSON.stringify({ time: startTime(i), stream: 'stdout', log: `${line}\n`, kubernetes: k });
}
