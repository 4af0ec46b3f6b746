/**
 * Access-log lines to flow summaries for the report's egress map, through the real decoder and
 * normaliser: one document per (source, destination, path, reporter) with counts, shaped like the
 * pipeline's FlowSummary (src/sinks/types.ts) so that `report --events` reads either.
 */
import { MeshConfigSchema } from '../identity/config.js';
import { Normalizer } from '../identity/normalizer.js';
import type { EgressEvent } from '../identity/types.js';
import { LineDecoder } from '../parse/decoder.js';

export interface FlowDoc {
  '@timestamp': string;
  source: { key: string; namespace: string | null; workload: string | null; principal: string | null };
  destination: { domain: string | null; registered_domain: string | null; ip: string | null; port: number };
  network: { path: string; reporter: string };
  requests: number;
  connections: number;
  bytes_up: number;
  bytes_down: number;
}

/**
 * Flow documents of egress (not inbound, not in-mesh) per pair, path and reporter; the first-seen
 * time is @timestamp. Copies what it needs: the processor reuses the event object it passes.
 */
export class FlowAccumulator {
  private readonly flows = new Map<string, FlowDoc>();

  add(e: EgressEvent): void {
    if (e.path === 'inbound' || e.path === 'internal') return;
    const d = e.destination;
    const key = `${e.source.key}|${d.host ?? d.ip}|${d.port}|${e.path}|${e.reporter}`;
    let f = this.flows.get(key);
    if (f === undefined) {
      f = {
        '@timestamp': new Date(e.time).toISOString(),
        source: {
          key: e.source.key,
          namespace: e.source.namespace,
          workload: e.source.workload,
          principal: e.source.principal,
        },
        destination: { domain: d.host, registered_domain: d.registeredDomain, ip: d.ip, port: d.port },
        network: { path: e.path, reporter: e.reporter },
        requests: 0,
        connections: 0,
        bytes_up: 0,
        bytes_down: 0,
      };
      this.flows.set(key, f);
    }
    // As FlowSummary counts them: HTTP lines are requests, TCP/TLS lines are connections.
    if (e.protocol === 'http') f.requests++;
    else f.connections++;
    f.bytes_up += e.bytesUp;
    f.bytes_down += e.bytesDown;
  }

  get size(): number {
    return this.flows.size;
  }

  docs(): FlowDoc[] {
    return [...this.flows.values()];
  }
}

/** The same from access-log lines, decoded and normalised with the defaults (the demo's traffic). */
export function flowsFromLines(lines: Iterable<string>): FlowDoc[] {
  const normalizer = new Normalizer(MeshConfigSchema.parse({}));
  const decoder = new LineDecoder();
  const flows = new FlowAccumulator();
  let n = 0;
  const sink = {
    access: (record: Parameters<Normalizer['normalize']>[0], meta: Parameters<Normalizer['normalize']>[1]) =>
      flows.add(normalizer.normalize(record, meta, { source: 'demo', position: String(n) })),
    skipped: () => {},
    malformed: () => {},
  };
  for (const line of lines) {
    n++;
    decoder.decode(line, sink);
  }
  return flows.docs();
}
