import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { elasticsearchUrl, kafkaBrokers, uniqueName, waitFor } from './helpers/stack.js';

interface Flow {
  seq: number;
  source: string;
  destination: string;
  bytes: number;
}

const COUNT = 50;

// The smoke test for the whole foundation: Kafka in, a consumer group out, Elasticsearch bulk in, search out.
describe('real Kafka broker and Elasticsearch node', () => {
  const kafka = new Kafka({ clientId: 'stack-test', brokers: kafkaBrokers(), logLevel: logLevel.WARN });
  const es = new Client({ node: elasticsearchUrl() });
  const topic = uniqueName('stack-test');
  const index = uniqueName('stack-test');

  beforeAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    const cluster = await admin.describeCluster();
    console.log(`[stack.test] Kafka cluster id ${cluster.clusterId}, brokers ${kafkaBrokers().join(',')}`);
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const info = await es.info().catch(() => undefined);
    // The stripped test distribution answers GET / with 405; the nodes API still names the version.
    const nodes = await es.nodes.info({ node_id: '_local', metric: 'settings' });
    const versions = Object.values(nodes.nodes).map((node) => node.version);
    console.log(
      `[stack.test] Elasticsearch ${info?.version.number ?? versions.join(',')} at ${elasticsearchUrl()}`,
    );
  });

  afterAll(async () => {
    await es.indices.delete({ index, ignore_unavailable: true });
    await es.close();
  });

  it('produces, consumes with a group, bulk-indexes and finds every message', async () => {
    const sent: Flow[] = Array.from({ length: COUNT }, (_, seq) => ({
      seq,
      source: `ns-${seq % 3}/checkout`,
      destination: seq % 2 === 0 ? 'api.stripe.com' : 'example.org',
      bytes: 100 + seq,
    }));

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic,
      messages: sent.map((flow) => ({ key: String(flow.seq), value: JSON.stringify(flow) })),
    });
    await producer.disconnect();

    const received: Flow[] = [];
    const consumer = kafka.consumer({ groupId: uniqueName('stack-test-group') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value) received.push(JSON.parse(message.value.toString()) as Flow);
      },
    });
    try {
      await waitFor(() => received.length >= COUNT, 60_000, `${COUNT} messages on ${topic}`);
    } finally {
      await consumer.disconnect();
    }
    expect(received.map((flow) => flow.seq).sort((a, b) => a - b)).toEqual(sent.map((flow) => flow.seq));

    await es.indices.create({ index, settings: { number_of_replicas: 0 } });
    const result = await es.helpers.bulk<Flow>({
      datasource: received,
      onDocument: (doc) => ({ index: { _index: index, _id: String(doc.seq) } }),
      refreshOnCompletion: index,
    });
    expect(result.failed).toBe(0);
    expect(result.successful).toBe(COUNT);

    const all = await es.count({ index });
    expect(all.count).toBe(COUNT);

    const stripe = await es.search<Flow>({
      index,
      size: COUNT,
      query: { term: { 'destination.keyword': 'api.stripe.com' } },
      sort: [{ seq: 'asc' }],
      aggs: { bytes: { sum: { field: 'bytes' } } },
    });
    const hits = stripe.hits.hits.map((hit) => hit._source);
    expect(hits).toHaveLength(COUNT / 2);
    expect(hits[0]).toEqual(sent[0]);
    expect(hits.every((flow) => flow?.destination === 'api.stripe.com')).toBe(true);
    const expectedBytes = sent
      .filter((f) => f.destination === 'api.stripe.com')
      .reduce((n, f) => n + f.bytes, 0);
    const bytes = stripe.aggregations?.bytes;
    expect(bytes && 'value' in bytes ? bytes.value : undefined).toBe(expectedBytes);
  });
});
