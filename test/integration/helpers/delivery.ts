/**
 * A synthetic source and stages for delivery tests that exercise sinks and the run loop on the
 * real servers without depending on parsing or detection: line `n` of batch `b` becomes an event at
 * T0 + n seconds and, every `alertEvery` lines, an alert with a deterministic id.
 */
import type { Client } from '@elastic/elasticsearch';
import type { Alert } from '../../../src/alerts/types.js';
import type { EgressEvent } from '../../../src/identity/types.js';
import type { DetectionStage, IngestStage } from '../../../src/pipeline/loop.js';
import type { LineBatch, Source } from '../../../src/sources/types.js';
import { syntheticStages } from '../../helpers/stages.js';
import { makeAlert } from '../../sinks/helpers.js';

export const T0 = Date.UTC(2025, 2, 1, 10, 0, 0);

export interface SyntheticSource extends Source {
  readonly acked: number[];
}

export function syntheticSource(batches: number, perBatch: number, pauseMs = 0): SyntheticSource {
  const acked: number[] = [];
  return {
    name: 'synthetic',
    acked,
    async *batches(signal: AbortSignal) {
      for (let b = 0; b < batches && !signal.aborted; b++) {
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        const lines = Array.from({ length: perBatch }, (_, i) => String(b * perBatch + i));
        const batch: LineBatch = {
          source: 'synthetic',
          lines,
          position: (i) => `0/${b * perBatch + i}`,
          ack: async () => {
            acked.push(b);
          },
        };
        yield batch;
      }
    },
    close: async () => {},
  };
}

export function syntheticEvent(n: number): EgressEvent {
  return {
    time: T0 + n * 1000,
    reporter: 'sidecar',
    protocol: n % 2 === 0 ? 'http' : 'tls',
    path: 'passthrough',
    cluster: 'PassthroughCluster',
    bytesUp: 100 + n,
    bytesDown: 1000 + n,
    durationMs: 3,
    responseCode: n % 2 === 0 ? 200 : 0,
    responseFlags: '-',
    requestId: null,
    method: n % 2 === 0 ? 'GET' : null,
    httpPath: n % 2 === 0 ? '/v1' : null,
    source: {
      principal: null,
      namespace: 'shop',
      workload: `svc-${n % 3}`,
      pod: null,
      ip: '10.1.0.7',
      attribution: 'metadata',
      key: `shop/svc-${n % 3}`,
    },
    destination: {
      host: 'api.example.com',
      registeredDomain: 'example.com',
      ip: '93.184.216.34',
      port: 443,
      external: true,
    },
    origin: `kafka:synthetic/0/${n}`,
  };
}

export function syntheticAlertFor(n: number): Alert {
  const time = new Date(T0 + n * 1000).toISOString();
  return makeAlert({
    id: `synthetic-${n}`,
    '@timestamp': time,
    alert: { id: `synthetic-${n}`, status: 'firing', repeats: 0, first_seen: time, last_seen: time },
    severity: n % 4 === 0 ? 'critical' : 'high',
  });
}

export function syntheticStagesFor(alertEvery: number): { ingest: IngestStage; detection: DetectionStage } {
  return syntheticStages(
    (line) => syntheticEvent(Number(line)),
    (line) => (Number(line) % alertEvery === 0 ? syntheticAlertFor(Number(line)) : null),
  );
}

/**
 * Removes what a test wrote under `prefix`: dated indices are deleted; data streams cannot be on the
 * stripped test node (no _data_stream API), so they are emptied by a rollover and deleting the old
 * backing indices.
 */
export async function dropTestData(es: Client, prefix: string): Promise<void> {
  await es.indices.delete({
    index: `${prefix}-alerts-*,${prefix}-baselines-*`,
    ignore_unavailable: true,
    allow_no_indices: true,
  });
  const resolved = await es.indices.resolveIndex({ name: `${prefix}-*` });
  for (const ds of resolved.data_streams) {
    const backing = Array.isArray(ds.backing_indices) ? ds.backing_indices : [ds.backing_indices];
    await es.indices.rollover({ alias: ds.name });
    await es.indices.delete({ index: backing.join(','), ignore_unavailable: true });
  }
}
