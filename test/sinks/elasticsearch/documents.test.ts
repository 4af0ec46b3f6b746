import { describe, expect, it } from 'vitest';
import { batchDocuments } from '../../../src/sinks/elasticsearch/documents.js';
import {
  datedIndex,
  datedIndexStart,
  indexNames,
  indexTemplates,
} from '../../../src/sinks/elasticsearch/mappings.js';
import { EMPTY_BATCH } from '../../../src/sinks/types.js';
import { makeAlert } from '../helpers.js';

const names = indexNames('es-test');
const all = { alerts: true, flows: true, baselines: true, events: true };

describe('Elasticsearch documents', () => {
  it('indexes an alert by its id into the month of its first_seen, so firing and resolved are one document', () => {
    const firing = makeAlert({ id: 'A' });
    const resolved = {
      ...makeAlert({ id: 'A', status: 'resolved' }),
      '@timestamp': '2025-04-02T00:00:00.000Z',
    };
    const docs = batchDocuments({ ...EMPTY_BATCH, alerts: [firing, resolved] }, names, all);
    expect(docs.map((d) => [d.index, d.id, d.op])).toEqual([
      ['es-test-alerts-2025.03', 'A', 'index'],
      ['es-test-alerts-2025.03', 'A', 'index'],
    ]);
  });

  it('creates flow documents in the data stream under their deterministic id', () => {
    const flow = { id: 'F', '@timestamp': '2025-03-01T10:00:00.000Z' } as never;
    expect(batchDocuments({ ...EMPTY_BATCH, flows: [flow] }, names, all)).toEqual([
      { index: 'es-test-flows', id: 'F', op: 'create', doc: flow },
    ]);
    expect(batchDocuments({ ...EMPTY_BATCH, flows: [flow] }, names, { ...all, flows: false })).toEqual([]);
  });

  it('round-trips dated index names for retention', () => {
    expect(datedIndex('p-alerts', '2025-03-17T01:00:00Z', 'month')).toBe('p-alerts-2025.03');
    expect(datedIndexStart('p-alerts', 'p-alerts-2025.03')).toBe(Date.UTC(2025, 2, 1));
    expect(datedIndexStart('p-baselines', 'p-baselines-2025.03.17')).toBe(Date.UTC(2025, 2, 17));
    expect(datedIndexStart('p-alerts', 'p-alerts-foo')).toBeNull();
  });

  it('declares data streams for flows and events and read aliases for alerts and baselines', () => {
    const t = indexTemplates({ prefix: 'p', shards: 1, replicas: 0, ilmPolicy: null });
    expect(t.filter((x) => x.data_stream !== undefined).map((x) => x.name)).toEqual(['p-flows', 'p-events']);
    expect(Object.keys(t[0]?.template?.aliases ?? {})).toEqual(['p-alerts']);
    expect(JSON.stringify(t)).not.toContain('lifecycle');
    expect(
      JSON.stringify(indexTemplates({ prefix: 'p', shards: 1, replicas: 0, ilmPolicy: 'pol' })),
    ).toContain('"index.lifecycle.name":"pol"');
  });
});
