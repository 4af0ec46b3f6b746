/**
 * Connections through the egress gateway as Envoy logs them: each leg's line is written when the
 * connection closes but stamped with its start, so a stream of lines (one shipper reading the
 * sidecars' and the gateway's logs as they are written) is in close order, and a long connection's
 * lines come after lines of connections that started later. Every line is the published plain-TCP
 * pair of test/fixtures/connection-pairs.txt (TCP1S/TCP1G, sources in its README) with its start,
 * duration, client pod and ephemeral port rewritten, in the Fluent Bit record a DaemonSet ships.
 */
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { cloneEgressEvent } from '../../src/identity/event.js';
import { Normalizer } from '../../src/identity/normalizer.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { fixture } from '../fixtures/load.js';
import { Stages } from './stages.js';

const PAIRS = '../fixtures/connection-pairs.txt';
/** The published pair's client pod IP (the sidecar's upstream local address, the gateway's downstream remote). */
const PUBLISHED_CLIENT = '10.108.0.56';
const PUBLISHED_PORT = '33706';
const GATEWAY_IP = '10.108.0.55';

/** Client pods (all sidecars of namespace `default`), by index. */
export const CLIENTS = [
  { ip: '10.108.0.56', pod: 'sleep-7c7db887d8-9dnd7', app: 'sleep' },
  { ip: '10.108.0.57', pod: 'billing-5b9d6c7f4-q2kzt', app: 'billing' },
] as const;

export interface Connection {
  /** Index into CLIENTS. */
  client: number;
  /** The sidecar leg's start (ms); the gateway's leg starts 1 ms later, as in the published pair. */
  start: number;
  /** How long the sidecar's leg lasted (ms): its line is written at start + this. */
  sidecarMs: number;
  /** When the gateway wrote its line, relative to the sidecar's (ms; negative: before it). */
  gatewayWrittenAfterMs: number;
  /** The client's ephemeral port (the join's address); unique per connection. */
  port: number;
  /** Leave the sidecar's line out (a connection no sidecar reported: impersonation). */
  noSidecarLine?: boolean;
}

export interface WrittenLine {
  /** When Envoy wrote it (close time): the order a shipper reads lines in. */
  written: number;
  /** `S` or `G` with the connection's port, for tests that look for one line. */
  id: string;
  line: string;
}

function stamp(line: string, time: number, durationMs: number): string {
  // `[time] "- - -" 0 - - - "-" BYTES_IN BYTES_OUT DURATION ...` (Istio 1.9+ TEXT format).
  return line
    .replace(/^\[[^\]]+\]/, `[${new Date(time).toISOString()}]`)
    .replace(/^(\[[^\]]+\] "- - -" 0 - - - "-" \d+ \d+) \d+ /, `$1 ${durationMs} `);
}

function record(line: string, written: number, pod: string, ip: string, labels: Record<string, string>) {
  return JSON.stringify({
    time: new Date(written).toISOString(),
    log: line,
    kubernetes: {
      pod_name: pod,
      namespace_name: labels.istio === undefined ? 'default' : 'istio-system',
      pod_ip: ip,
      labels,
      container_name: 'istio-proxy',
    },
  });
}

/** The two lines of one connection (one when `noSidecarLine`). */
export function connectionLines(c: Connection): WrittenLine[] {
  const client = CLIENTS[c.client];
  if (client === undefined) throw new Error(`no client ${c.client}`);
  const rewrite = (l: string) =>
    l
      .replaceAll(`${PUBLISHED_CLIENT}:${PUBLISHED_PORT}`, `${client.ip}:${c.port}`)
      .replaceAll(PUBLISHED_CLIENT, client.ip);
  const sidecarWritten = c.start + c.sidecarMs;
  const gatewayWritten = sidecarWritten + c.gatewayWrittenAfterMs;
  const out: WrittenLine[] = [];
  if (c.noSidecarLine !== true) {
    const s = stamp(rewrite(fixture(PAIRS, 'TCP1S')), c.start, c.sidecarMs);
    out.push({
      written: sidecarWritten,
      id: `S${c.port}`,
      line: record(s, sidecarWritten, client.pod, client.ip, { app: client.app }),
    });
  }
  const g = stamp(rewrite(fixture(PAIRS, 'TCP1G')), c.start + 1, gatewayWritten - c.start - 1);
  out.push({
    written: gatewayWritten,
    id: `G${c.port}`,
    line: record(g, gatewayWritten, 'istio-egressgateway-5f4c-x2x', GATEWAY_IP, { istio: 'egressgateway' }),
  });
  return out;
}

/** Every connection's lines in the order Envoy wrote them (close order; ties in connection order). */
export function inCloseOrder(connections: readonly Connection[]): WrittenLine[] {
  return connections.flatMap(connectionLines).sort((a, b) => a.written - b.written);
}

/**
 * Short connections (20 ms) from each of `clients` every `everyMs`, ports from `firstPort`: what
 * moves event time on.
 */
export function steadyTraffic(
  from: number,
  to: number,
  everyMs: number,
  firstPort: number,
  clients: readonly number[] = CLIENTS.map((_, i) => i),
): Connection[] {
  const out: Connection[] = [];
  let port = firstPort;
  for (let t = from; t < to; t += everyMs)
    for (const client of clients)
      out.push({ client, start: t + client * 7, sidecarMs: 20, gatewayWrittenAfterMs: -1, port: port++ });
  return out;
}

/** Lines read through the real decoder and normaliser (origin `SOURCE:N`, N from 1), as events. */
export function decodeLines(lines: readonly string[], source = 'pairs'): EgressEvent[] {
  const normalizer = new Normalizer(MeshConfigSchema.parse({}));
  const decoder = new LineDecoder();
  const out: EgressEvent[] = [];
  lines.forEach((line, i) => {
    decoder.decode(line, {
      access: (r, m) =>
        out.push(cloneEgressEvent(normalizer.normalize(r, m, { source, position: String(i + 1) }))),
      skipped: (reason) => {
        throw new Error(`line ${i + 1} skipped: ${reason}`);
      },
      malformed: (reason) => {
        throw new Error(`line ${i + 1} malformed: ${reason}`);
      },
    });
  });
  return out;
}

/** The pipeline's stages with default settings and a policy that lets namespace `default` reach only *.ibm.com. */
export function stagesDefaultOnlyIbm(): Stages {
  return new Stages({
    detection: DetectionConfigSchema.parse({}),
    decoder: { format: 'auto' },
    mesh: MeshConfigSchema.parse({}),
    policies: new PolicySet(
      parsePolicyText(
        'kind: EgressPolicy\npolicies:\n  - name: default-egress\n    source: { namespace: default }\n    allow: ["*.ibm.com"]\n',
        'policy.yaml',
      ),
    ),
  });
}
