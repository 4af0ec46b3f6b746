/**
 * Egress events to flow summaries for the report's egress map (`replay --flows`): one document per
 * (source, destination, path, reporter) with counts, shaped like the pipeline's FlowSummary
 * (src/sinks/types.ts) so that `report --events` reads either. A flow stage of the run loop.
 */
import type { EgressEvent } from '../identity/types.js';

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
 * time is @timestamp. Copies what it needs: Ingest reuses the event object it passes.
 */
export class FlowAccumulator {
  private readonly flows = new Map<string, FlowDoc>();

  observe(e: EgressEvent): void {
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
