/**
 * Backpressure instead of loss, on the real Elasticsearch node and a local webhook receiver: while a
 * sink is down the run loop stops acknowledging (and so stops pulling) batches, retries, and
 * resumes when the sink is back; afterwards every alert is there exactly once.
 */
import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it } from 'vitest';
import { FlowAggregator } from '../../src/detect/flows.js';
import { runPipeline } from '../../src/pipeline/loop.js';
import { ElasticsearchSink, ElasticsearchSinkConfigSchema } from '../../src/sinks/elasticsearch/index.js';
import { verifySignature } from '../../src/sinks/webhook/generic.js';
import { WebhookSink, WebhookSinkConfigSchema } from '../../src/sinks/webhook/index.js';
import { startReceiver, testContext } from '../sinks/helpers.js';
import { dropTestData, syntheticSource, syntheticStagesFor } from './helpers/delivery.js';
import {
  canRestartElasticsearch,
  elasticsearchUrl,
  startElasticsearch,
  stopElasticsearch,
  uniqueName,
  waitFor,
} from './helpers/stack.js';

const BATCHES = 30;
const PER_BATCH = 10;
const ALERT_EVERY = 3;
const expectedIds = Array.from({ length: BATCHES * PER_BATCH }, (_, n) => n)
  .filter((n) => n % ALERT_EVERY === 0)
  .map((n) => `synthetic-${n}`)
  .sort();

describe('delivery through outages', () => {
  const es = new Client({ node: elasticsearchUrl() });
  const prefix = uniqueName('deliver-outage');

  afterAll(async () => {
    await dropTestData(es, prefix);
    await es.close();
  });

  it.skipIf(!canRestartElasticsearch())(
    'stopping Elasticsearch mid-stream pauses the pipeline, and after the restart no alert is lost or duplicated',
    async () => {
      const ctx = testContext();
      const sink = new ElasticsearchSink(
        ElasticsearchSinkConfigSchema.parse({
          type: 'elasticsearch',
          connection: { url: elasticsearchUrl(), requestTimeoutMs: 5_000 },
          indexPrefix: prefix,
          retry: { maxAttempts: 3, initialDelayMs: 200, maxDelayMs: 1_000 },
        }),
        ctx,
      );
      await sink.start();
      const source = syntheticSource(BATCHES, PER_BATCH, 100);
      const run = runPipeline({
        sources: [source],
        ...syntheticStagesFor(ALERT_EVERY),
        deadLetters: async () => {},
        sinks: [sink],
        flows: new FlowAggregator({
          allowedLatenessMs: 5_000,
          snapshotIntervalMs: 0,
          baselineTtlMs: 86_400_000,
        }),
        holdAcks: true,
        retryInitialMs: 250,
        retryMaxMs: 2_000,
        shutdown: new AbortController().signal,
        stop: new AbortController().signal,
        log: ctx.log,
      });
      await waitFor(() => source.acked.length >= 5, 30_000, 'the first batches to be acknowledged');
      const t0 = Date.now();
      await stopElasticsearch();
      const ackedAtStop = source.acked.length;
      await new Promise((r) => setTimeout(r, 3_000));
      // Down: at most the batch that was already written may still be acknowledged.
      const ackedWhileDown = source.acked.length;
      expect(ackedWhileDown - ackedAtStop).toBeLessThanOrEqual(2);
      await startElasticsearch();
      const summary = await run;
      const outageMs = Date.now() - t0;
      await sink.close();

      expect(summary.completed).toBe(true);
      expect(source.acked).toEqual(Array.from({ length: BATCHES }, (_, i) => i));
      expect(ctx.logs.some((l) => l.message.startsWith('Sink failed a batch'))).toBe(true);
      await es.indices.refresh({ index: `${prefix}-alerts` });
      const found = await es.search<{ alert: { id: string } }>({
        index: `${prefix}-alerts`,
        size: 1000,
        _source: ['alert.id'],
      });
      const ids = found.hits.hits.map((h) => h._source?.alert.id as string).sort();
      expect(ids).toEqual(expectedIds);
      expect(ctx.deadLetters).toEqual([]);
      console.log(
        `[delivery-outage] Elasticsearch down/up took ${outageMs} ms; acked ${ackedAtStop} batches before, ${ackedWhileDown - ackedAtStop} while down; ${ids.length} alerts, each once`,
      );
    },
    180_000,
  );

  it('a webhook that answers 503 for a while receives every alert once it recovers, each once', async () => {
    const rx = await startReceiver();
    let recoverAt = Number.POSITIVE_INFINITY;
    rx.respond = () => (Date.now() < recoverAt ? 503 : 200);
    const ctx = testContext({ HOOK_SECRET: 'outage-secret' });
    const sink = new WebhookSink(
      WebhookSinkConfigSchema.parse({
        type: 'webhook',
        url: rx.url,
        secret: { env: 'HOOK_SECRET' },
        retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200 },
        rateLimit: { perSecond: 500, burst: 100 },
      }),
      ctx,
    );
    const source = syntheticSource(BATCHES, PER_BATCH, 20);
    recoverAt = Date.now() + 3_000;
    const summary = await runPipeline({
      sources: [source],
      ...syntheticStagesFor(ALERT_EVERY),
      deadLetters: async () => {},
      sinks: [sink],
      flows: null,
      holdAcks: false,
      retryInitialMs: 200,
      retryMaxMs: 800,
      shutdown: new AbortController().signal,
      stop: new AbortController().signal,
      log: ctx.log,
    });
    await rx.close();
    expect(summary.completed).toBe(true);
    for (const r of rx.requests) {
      const ts = r.headers['x-egress-sentinel-timestamp'] as string;
      expect(
        verifySignature('outage-secret', ts, r.body, r.headers['x-egress-sentinel-signature'] as string),
      ).toBe(true);
    }
    const refused = rx.requests.filter((r) => r.status === 503).length;
    const delivered = rx.requests
      .filter((r) => r.status === 200)
      .map((r) => JSON.parse(r.body).alert.id as string);
    expect(refused).toBeGreaterThan(0);
    expect([...delivered].sort()).toEqual(expectedIds);
    console.log(
      `[delivery-outage] webhook: ${refused} requests refused with 503, then ${delivered.length} alerts delivered, each once`,
    );
    expect(ctx.deadLetters).toEqual([]);
  });
});
