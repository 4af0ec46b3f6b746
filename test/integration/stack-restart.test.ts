import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it } from 'vitest';
import {
  canRestartElasticsearch,
  elasticsearchUrl,
  startElasticsearch,
  stopElasticsearch,
  uniqueName,
} from './helpers/stack.js';

// Delivery tests stop Elasticsearch mid-stream; this proves the helpers they use really do, and that
// data written before the stop is there after the restart.
describe.skipIf(!canRestartElasticsearch())('stopping and starting the local Elasticsearch node', () => {
  const es = new Client({ node: elasticsearchUrl(), maxRetries: 0, requestTimeout: 5000 });
  const index = uniqueName('stack-restart');

  afterAll(async () => {
    await es.indices.delete({ index, ignore_unavailable: true });
    await es.close();
  });

  it('goes down, comes back, and keeps its data', async () => {
    await es.index({ index, id: '1', document: { ok: true }, refresh: true });

    await stopElasticsearch();
    await expect(es.cluster.health()).rejects.toThrow();

    await startElasticsearch();
    await es.cluster.health({ index, wait_for_status: 'yellow', timeout: '30s' });
    const doc = await es.get<{ ok: boolean }>({ index, id: '1' });
    expect(doc._source).toEqual({ ok: true });
  });
});
