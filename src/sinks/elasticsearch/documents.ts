/** Turns what a batch produced into bulk documents with deterministic ids and fixed target indices. */
import { createHash } from 'node:crypto';
import type { EgressEvent } from '../../identity/types.js';
import type { SinkBatch } from '../types.js';
import type { BulkDoc } from './bulk.js';
import { datedIndex, type IndexNames } from './mappings.js';

export interface DocSelection {
  readonly alerts: boolean;
  readonly flows: boolean;
  readonly baselines: boolean;
  readonly events: boolean;
}

/** A short stable id: the origin of a line (`kafka:topic/p/offset`, `file:line`) is unique per event. */
export function eventId(e: EgressEvent): string {
  return createHash('sha256').update(e.origin).digest('base64url').slice(0, 27);
}

export function eventDocument(e: EgressEvent): object {
  return {
    '@timestamp': new Date(e.time).toISOString(),
    event: { duration_ms: e.durationMs, origin: e.origin },
    network: { path: e.path, reporter: e.reporter, protocol: e.protocol },
    upstream: { cluster: e.cluster },
    source: e.source,
    destination: {
      domain: e.destination.host,
      registered_domain: e.destination.registeredDomain,
      ip: e.destination.ip,
      port: e.destination.port,
      external: e.destination.external,
    },
    http: { method: e.method, path: e.httpPath, response_code: e.responseCode, request_id: e.requestId },
    response_flags: e.responseFlags,
    bytes_up: e.bytesUp,
    bytes_down: e.bytesDown,
  };
}

export function batchDocuments(batch: SinkBatch, names: IndexNames, select: DocSelection): BulkDoc[] {
  const docs: BulkDoc[] = [];
  if (select.alerts) {
    for (const a of batch.alerts) {
      // first_seen does not change between firing and resolved, so both write the same document.
      docs.push({
        index: datedIndex(names.alerts, a.alert.first_seen, 'month'),
        id: a.alert.id,
        op: 'index',
        doc: a,
      });
    }
  }
  if (select.flows)
    for (const f of batch.flows) docs.push({ index: names.flows, id: f.id, op: 'create', doc: f });
  if (select.baselines) {
    for (const b of batch.baselines) {
      docs.push({
        index: datedIndex(names.baselines, b['@timestamp'], 'day'),
        id: b.id,
        op: 'index',
        doc: b,
      });
    }
  }
  if (select.events)
    for (const e of batch.events)
      docs.push({ index: names.events, id: eventId(e), op: 'create', doc: eventDocument(e) });
  return docs;
}
