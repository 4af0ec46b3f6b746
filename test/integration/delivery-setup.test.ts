/**
 * `egress-sentinel setup elasticsearch` on the real (ILM-less) node: templates installed, a clear
 * statement that there is no ILM, and retention by deleting old dated indices and old data stream
 * backing indices (rolling the stream over first when its write index is the old one).
 */
import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { setupCommand } from '../../src/cli/setup.js';
import { applyRetention } from '../../src/sinks/elasticsearch/setup.js';
import { dropTestData } from './helpers/delivery.js';
import { elasticsearchUrl, uniqueName } from './helpers/stack.js';

describe('setup elasticsearch', () => {
  const es = new Client({ node: elasticsearchUrl() });
  const prefix = uniqueName('deliver-setup');

  afterAll(async () => {
    await dropTestData(es, prefix);
    await es.close();
  });

  it('installs the templates, says there is no ILM, and deletes what is older than the retention', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const code = await setupCommand.run([
      'elasticsearch',
      '--url',
      elasticsearchUrl(),
      '--prefix',
      prefix,
      '--retention-days',
      '30',
    ]);
    const out = write.mock.calls.map((c) => String(c[0])).join('');
    write.mockRestore();
    expect(code).toBe(0);
    expect(out).toContain(`Installed index template ${prefix}-flows.`);
    expect(out).toContain('This cluster has no ILM: applying retention now');
    // The read aliases exist before any document: the current period's indices were created.
    expect(
      (await es.indices.existsAlias({ name: `${prefix}-alerts` })) &&
        (await es.indices.existsAlias({ name: `${prefix}-baselines` })),
    ).toBe(true);
    const templates = await es.indices.getIndexTemplate({ name: `${prefix}-*` });
    expect(templates.index_templates.map((t) => t.name).sort()).toEqual(
      [`${prefix}-alerts`, `${prefix}-baselines`, `${prefix}-events`, `${prefix}-flows`].sort(),
    );

    // An old alert index and a current one, created by the template (with the read alias), and a flow data stream.
    await es.index({
      index: `${prefix}-alerts-2020.01`,
      id: 'old',
      document: { '@timestamp': '2020-01-05T00:00:00Z' },
      refresh: true,
    });
    const thisMonth = new Date().toISOString().slice(0, 7).replace('-', '.');
    await es.index({
      index: `${prefix}-alerts-${thisMonth}`,
      id: 'new',
      document: { '@timestamp': new Date().toISOString() },
      refresh: true,
    });
    await es.index({
      index: `${prefix}-flows`,
      op_type: 'create',
      id: 'f1',
      document: { '@timestamp': new Date().toISOString(), requests: 1 },
    });
    const alias = await es.indices.getAlias({ name: `${prefix}-alerts` });
    expect(Object.keys(alias).sort()).toEqual(
      [`${prefix}-alerts-${thisMonth}`, `${prefix}-alerts-2020.01`].sort(),
    );

    const deleted = await applyRetention(es, prefix, 30);
    expect(deleted).toEqual([`${prefix}-alerts-2020.01`]);

    // Seen from 31 days in the future, the flow stream's only backing index is too old: roll over, then delete it.
    const before = (await es.indices.resolveIndex({ name: `${prefix}-flows` })).data_streams[0]
      ?.backing_indices as string[];
    const later = await applyRetention(es, prefix, 30, Date.now() + 31 * 86_400_000);
    expect(later).toContain(before[0]);
    const after = (await es.indices.resolveIndex({ name: `${prefix}-flows` })).data_streams[0]
      ?.backing_indices as string[];
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
  });

  it('fails naming the server when Elasticsearch is unreachable', async () => {
    await expect(setupCommand.run(['elasticsearch', '--url', 'http://127.0.0.1:1'])).rejects.toMatchObject({
      code: 'ESN_SERVER_UNREACHABLE',
      message: expect.stringContaining('http://127.0.0.1:1'),
    });
  });
});
