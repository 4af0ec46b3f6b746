/**
 * Every dashboard panel, run as the Elasticsearch request it amounts to, against the real node over
 * simulated traffic indexed by the real ES sink (templates from `setup elasticsearch`): each panel
 * must find data, and every field a panel uses must be mapped in the indices the sink created.
 * Flows come from the real decoder, normaliser and flow aggregator, alerts from the real pipeline
 * core (BatchProcessor, the seed's AuthorizationPolicy), both over two simulated days with every attack.
 */
import { Client } from '@elastic/elasticsearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { panelSearch } from '../../src/dashboards/es-query.js';
import { DATA_VIEWS, PANELS, panelFields } from '../../src/dashboards/panels.js';
import { FlowAggregator } from '../../src/detect/flows.js';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { Normalizer } from '../../src/identity/normalizer.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { loadPolicyFiles } from '../../src/policy/load.js';
import { ATTACK_NAMES } from '../../src/simulate/attacks.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { DAY } from '../../src/simulate/topology.js';
import { ElasticsearchSink, ElasticsearchSinkConfigSchema } from '../../src/sinks/elasticsearch/index.js';
import { Stages } from '../helpers/stages.js';
import { testContext } from '../sinks/helpers.js';
import { elasticsearchUrl, uniqueName } from './helpers/stack.js';

function simulatedFlowsAndAlerts() {
  // Two days, as the demo: the detectors learn on day one, every attack happens on day two.
  const traffic = generateTraffic({
    envelope: 'fluent-bit',
    durationMs: 2 * DAY,
    rate: 20,
    attacks: ATTACK_NAMES,
  });
  const config = parsePipelineConfig({}, '(defaults)');
  const processor = new Stages({
    detection: config.detection,
    decoder: {},
    mesh: config.mesh,
    policies: loadPolicyFiles(['deploy/istio/authorization-policy.yaml']),
  });
  const normalizer = new Normalizer(MeshConfigSchema.parse({}));
  const decoder = new LineDecoder();
  const flows = new FlowAggregator();
  let n = 0;
  const sink = {
    access: (r: Parameters<Normalizer['normalize']>[0], m: Parameters<Normalizer['normalize']>[1]) =>
      flows.observe(normalizer.normalize(r, m, { source: 'simulated', position: String(n) })),
    skipped: () => {},
    malformed: (reason: string) => {
      throw new Error(`line ${n} malformed: ${reason}`);
    },
  };
  let batch: string[] = [];
  for (const line of traffic) {
    n++;
    decoder.decode(line, sink);
    batch.push(line);
    if (batch.length === 1000) {
      processor.processLines(batch, 'simulated', (i) => String(n - batch.length + i + 1));
      batch = [];
    }
  }
  processor.processLines(batch, 'simulated', (i) => String(n - batch.length + i + 1));
  processor.finish();
  // The last record of each alert, as a sink would hold it after overwrites by id.
  const alerts = [...new Map(processor.takeAlerts().map((a) => [a.alert.id, a])).values()];
  return { lines: n, ...flows.drain(true), alerts };
}

describe('Egress overview dashboard on real Elasticsearch', () => {
  const prefix = uniqueName('dash');
  const es = new Client({ node: elasticsearchUrl() });
  const sink = new ElasticsearchSink(
    ElasticsearchSinkConfigSchema.parse({
      type: 'elasticsearch',
      connection: { url: elasticsearchUrl() },
      indexPrefix: prefix,
      write: { baselines: false },
    }),
    testContext(),
  );
  let indexed = { flows: 0, alerts: 0 };

  beforeAll(async () => {
    const data = simulatedFlowsAndAlerts();
    await sink.start();
    await sink.write({ alerts: data.alerts, flows: data.flows, baselines: [], events: [] });
    await es.indices.refresh({ index: `${prefix}-*` });
    indexed = { flows: data.flows.length, alerts: data.alerts.length };
  });

  afterAll(async () => {
    await sink.close();
    // Data streams cannot be deleted on the stripped test node; the dated alert indices can.
    await es.indices.delete({
      index: `${prefix}-alerts-*`,
      ignore_unavailable: true,
      allow_no_indices: true,
    });
    await es.close();
  });

  it('indexed the simulated flows and alerts', async () => {
    expect(indexed.flows).toBeGreaterThan(500);
    expect(indexed.alerts).toBeGreaterThan(9);
    const count = await es.count({ index: `${prefix}-flows*` });
    expect(count.count).toBe(indexed.flows);
    expect((await es.count({ index: `${prefix}-alerts*` })).count).toBe(indexed.alerts);
  });

  it('maps every field the panels use in the indices the sink created', async () => {
    for (const view of ['alerts', 'flows'] as const) {
      const caps = await es.fieldCaps({ index: DATA_VIEWS[view].title(prefix), fields: '*' });
      const known = new Set(Object.keys(caps.fields));
      const missing = PANELS.filter((p) => p.dataView === view)
        .flatMap((p) => panelFields(p).map((f) => [p.id, f] as const))
        .filter(([, f]) => f !== 'evidence' && !known.has(f)); // evidence: stored, deliberately not indexed
      expect(missing).toEqual([]);
    }
  });

  for (const panel of PANELS) {
    it(`panel "${panel.title}" finds data`, async () => {
      const response = await es.search(panelSearch(panel, DATA_VIEWS[panel.dataView].title(prefix)));
      const total =
        typeof response.hits.total === 'number' ? response.hits.total : (response.hits.total?.value ?? 0);
      expect(total).toBeGreaterThan(0);
      if (panel.kind === 'search') {
        expect(response.hits.hits.length).toBeGreaterThan(0);
        return;
      }
      const aggs = response.aggregations as Record<
        string,
        { buckets: { doc_count: number; key: unknown }[] }
      >;
      const top = aggs[panel.kind === 'xy' ? 'time' : 'row0'];
      expect(top?.buckets.length).toBeGreaterThan(0);
      if (panel.id === 'gateway-vs-sidecar') {
        // Both legs are there, and the silence window shows the gap: sidecar legs without gateway legs.
        const reporters = new Set(
          top?.buckets.flatMap((b) =>
            (b as unknown as { breakdown: { buckets: { key: string }[] } }).breakdown.buckets.map(
              (x) => x.key,
            ),
          ),
        );
        expect(reporters).toEqual(new Set(['sidecar', 'egress-gateway']));
      }
    });
  }
});
