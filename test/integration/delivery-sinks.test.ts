/**
 * What the sinks deliver, on the real Kafka broker and Elasticsearch node plus a local webhook
 * receiver: alerts in the Kafka feed, in Elasticsearch and at the receiver (signature verified);
 * flow summaries and raw events in their data streams with totals matching the input; and a second
 * run over the same input (a redelivery) duplicates nothing in Elasticsearch.
 */
import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowAggregator } from '../../src/detect/flows.js';
import { runPipeline } from '../../src/pipeline/loop.js';
import { ElasticsearchSink, ElasticsearchSinkConfigSchema } from '../../src/sinks/elasticsearch/index.js';
import { KafkaSink, KafkaSinkConfigSchema } from '../../src/sinks/kafka.js';
import type { Sink } from '../../src/sinks/types.js';
import { verifySignature } from '../../src/sinks/webhook/generic.js';
import { WebhookSink, WebhookSinkConfigSchema } from '../../src/sinks/webhook/index.js';
import { type Receiver, startReceiver, testContext } from '../sinks/helpers.js';
import { dropTestData, syntheticEvent, syntheticSource, syntheticStagesFor } from './helpers/delivery.js';
import { elasticsearchUrl, kafkaBrokers, uniqueName, waitFor } from './helpers/stack.js';

const BATCHES = 10;
const PER_BATCH = 30;
const EVENTS = BATCHES * PER_BATCH;
const ALERT_EVERY = 7;
const expectedAlertIds = Array.from({ length: EVENTS }, (_, n) => n)
  .filter((n) => n % ALERT_EVERY === 0)
  .map((n) => `synthetic-${n}`)
  .sort();

describe('delivery to Kafka, Elasticsearch and a webhook', () => {
  const prefix = uniqueName('deliver-sinks');
  const topic = uniqueName('deliver-alerts');
  const es = new Client({ node: elasticsearchUrl() });
  const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const ctx = testContext({ HOOK_SECRET: 'integration-secret' });
  let rx: Receiver;
  let sinks: Sink[];

  beforeAll(async () => {
    rx = await startReceiver();
    sinks = [
      new KafkaSink(
        KafkaSinkConfigSchema.parse({
          type: 'kafka',
          topic,
          connection: { brokers: kafkaBrokers() },
          createTopic: { partitions: 2 },
        }),
        ctx,
      ),
      new ElasticsearchSink(
        ElasticsearchSinkConfigSchema.parse({
          type: 'elasticsearch',
          connection: { url: elasticsearchUrl() },
          indexPrefix: prefix,
          write: { events: true },
        }),
        ctx,
      ),
      new WebhookSink(
        WebhookSinkConfigSchema.parse({
          type: 'webhook',
          url: rx.url,
          secret: { env: 'HOOK_SECRET' },
          rateLimit: { perSecond: 200, burst: 50 },
        }),
        ctx,
      ),
    ];
    for (const s of sinks) await s.start();
  });

  afterAll(async () => {
    for (const s of sinks ?? []) await s.close();
    await rx?.close();
    await dropTestData(es, prefix);
    await es.close();
  });

  async function runOnce(): Promise<void> {
    const source = syntheticSource(BATCHES, PER_BATCH);
    const summary = await runPipeline({
      sources: [source],
      ...syntheticStagesFor(ALERT_EVERY),
      deadLetters: async () => {},
      sinks,
      flows: new FlowAggregator({
        allowedLatenessMs: 5_000,
        snapshotIntervalMs: 120_000,
        baselineTtlMs: 86_400_000,
      }),
      holdAcks: true,
      retryInitialMs: 100,
      retryMaxMs: 1_000,
      shutdown: new AbortController().signal,
      stop: new AbortController().signal,
      log: ctx.log,
    });
    expect(summary.completed).toBe(true);
    expect(source.acked).toEqual(Array.from({ length: BATCHES }, (_, i) => i));
  }

  async function esTotals() {
    await es.indices.refresh({ index: `${prefix}-*` });
    const alerts = await es.search<{ alert: { id: string } }>({
      index: `${prefix}-alerts`,
      size: 1000,
      _source: ['alert.id'],
    });
    const flows = await es.search({
      index: `${prefix}-flows`,
      size: 0,
      aggs: {
        requests: { sum: { field: 'requests' } },
        connections: { sum: { field: 'connections' } },
        bytes_up: { sum: { field: 'bytes_up' } },
        bytes_down: { sum: { field: 'bytes_down' } },
      },
    });
    const events = await es.count({ index: `${prefix}-events` });
    const baselines = await es.count({ index: `${prefix}-baselines` });
    const sum = (name: string) => (flows.aggregations?.[name] as { value: number }).value;
    return {
      alertIds: alerts.hits.hits.map((h) => h._source?.alert.id as string).sort(),
      flowDocs: (flows.hits.total as { value: number }).value,
      requests: sum('requests'),
      connections: sum('connections'),
      bytesUp: sum('bytes_up'),
      bytesDown: sum('bytes_down'),
      events: events.count,
      baselines: baselines.count,
    };
  }

  it('lands every alert in Kafka, Elasticsearch and the webhook, and flows and events with matching totals', async () => {
    await runOnce();

    const totals = await esTotals();
    expect(totals.alertIds).toEqual(expectedAlertIds);
    const all = Array.from({ length: EVENTS }, (_, n) => syntheticEvent(n));
    expect(totals.requests).toBe(all.filter((e) => e.protocol === 'http').length);
    expect(totals.connections).toBe(all.filter((e) => e.protocol !== 'http').length);
    expect(totals.bytesUp).toBe(all.reduce((s, e) => s + e.bytesUp, 0));
    expect(totals.bytesDown).toBe(all.reduce((s, e) => s + e.bytesDown, 0));
    expect(totals.events).toBe(EVENTS);
    // Snapshots every 2 minutes of event time: at +2 min and +4 min, one per (source, destination) pair (3 pairs).
    expect(totals.baselines).toBe(6);
    console.log(
      `[delivery-sinks] Elasticsearch: ${totals.alertIds.length} alerts, ${totals.flowDocs} flow docs, ${totals.events} events`,
    );

    const received = rx.requests.map((r) => {
      const ts = r.headers['x-egress-sentinel-timestamp'] as string;
      expect(
        verifySignature('integration-secret', ts, r.body, r.headers['x-egress-sentinel-signature'] as string),
      ).toBe(true);
      return JSON.parse(r.body).alert.id as string;
    });
    expect(received.sort()).toEqual(expectedAlertIds);

    const consumer = kafka.consumer({ groupId: uniqueName('deliver-check') });
    const keys: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        keys.push(message.key?.toString() ?? '');
        expect(JSON.parse(message.value?.toString() ?? '{}').alert.id).toBe(message.key?.toString());
      },
    });
    await waitFor(() => keys.length >= expectedAlertIds.length, 30_000, 'the alert feed');
    await consumer.disconnect();
    expect([...keys].sort()).toEqual(expectedAlertIds);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('duplicates nothing in Elasticsearch when the same input is delivered again', async () => {
    const before = await esTotals();
    await runOnce();
    const after = await esTotals();
    expect(after).toEqual(before);
  });

  it('dead-letters a document Elasticsearch refuses, with the reason, and still writes the rest', async () => {
    const sink = sinks[1] as Sink;
    const good = { ...syntheticEvent(0), origin: 'kafka:synthetic/9/1' };
    const flow = { id: 'broken-flow', '@timestamp': '2025-03-01T10:00:00.000Z', requests: 'many' };
    await sink.write({ alerts: [], flows: [flow as never], baselines: [], events: [good] });
    expect(ctx.deadLetters).toHaveLength(1);
    expect(ctx.deadLetters[0]).toMatchObject({ component: 'elasticsearch', origin: 'broken-flow' });
    expect(ctx.deadLetters[0]?.reason).toMatch(/^400 document_parsing_exception/);
    await es.indices.refresh({ index: `${prefix}-events` });
    expect((await es.count({ index: `${prefix}-events` })).count).toBe(EVENTS + 1);
  });
});
