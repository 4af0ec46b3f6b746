/**
 * Mixed-format lines (Fluent Bit TEXT and JSON, bare TEXT, OTLP, noise, broken lines) produced to a
 * real Kafka topic, consumed by the Kafka source, decoded and normalised; dead letters carry
 * topic/partition/offset; offsets are committed only after ack.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { type DeadLetter, lineOrigin } from '../../src/dead-letter.js';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { cloneEgressEvent } from '../../src/identity/event.js';
import { Normalizer } from '../../src/identity/normalizer.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import type { LineOrigin } from '../../src/parse/types.js';
import { KafkaSourceConfigSchema } from '../../src/sources/config.js';
import { KafkaSource } from '../../src/sources/kafka.js';
import type { LineBatch } from '../../src/sources/types.js';
import { loadFixtures } from '../fixtures/load.js';
import { kafkaBrokers, uniqueName } from './helpers/stack.js';

const real = loadFixtures('reference-lines.txt');
const bad = loadFixtures('bad-lines.txt');
const envelope = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../fixtures/envelopes/${name}`, import.meta.url)), 'utf8').trimEnd();
const line = (id: string): string => real.get(id)?.line ?? '';

const MESSAGES = [
  envelope('fluent-bit.json'), // 0: gateway-api egress gateway, HTTP
  line('L10'), // 1: pilot-agent noise
  envelope('filebeat.json'), // 2: sidecar direct-external
  bad.get('TRUNC')?.line ?? '', // 3: broken TEXT
  envelope('otlp.json'), // 4: two gateway lines + one proxy log
  '{"log": "[2024-01-01T00:00:00.000Z] \\"GET', // 5: broken envelope JSON
  line('L11'), // 6: bare BlackHole line
  envelope('fluent-bit-message-json.json'), // 7: JSON inside Fluent Bit
];

interface Consumed {
  events: EgressEvent[];
  dead: DeadLetter[];
  skipped: string[];
}

/** Creates `topic` with `partitions` partitions and produces `messages` to it. */
async function topicWith(
  kafka: Kafka,
  topic: string,
  partitions: number,
  messages: Message[],
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages });
  await producer.disconnect();
}

/** The Kafka source of one topic from its beginning, in consumer group `groupId`. */
function sourceFor(
  brokers: string[],
  groupId: string,
  topic: string,
  options: { maxBytesPerPartition?: number } = {},
): KafkaSource {
  return new KafkaSource(
    KafkaSourceConfigSchema.parse({
      type: 'kafka',
      connection: { brokers },
      groupId,
      topics: [topic],
      fromBeginning: true,
      ...options,
    }),
  );
}

async function committed(kafka: Kafka, groupId: string, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets[0]?.partitions[0]?.offset ?? '-1';
  } finally {
    await admin.disconnect();
  }
}

describe('ingest from Kafka', () => {
  it('yields normalised events and dead letters with positions, committing only after ack', async () => {
    const brokers = kafkaBrokers();
    const topic = uniqueName('ingest');
    const groupId = uniqueName('ingest-group');
    const kafka = new Kafka({ clientId: 'ingest-test', brokers, logLevel: logLevel.WARN });
    await topicWith(
      kafka,
      topic,
      1,
      MESSAGES.map((value) => ({ value })),
    );

    const source = sourceFor(brokers, groupId, topic);
    const decoder = new LineDecoder();
    const normalizer = new Normalizer(MeshConfigSchema.parse({}));
    const got: Consumed = { events: [], dead: [], skipped: [] };
    const origin: LineOrigin = { source: '', position: '' };
    const controller = new AbortController();
    const guard = setTimeout(() => controller.abort(), 60_000);
    let committedBeforeAck = '';
    try {
      for await (const batch of source.batches(controller.signal)) {
        for (let i = 0; i < batch.lines.length; i++) {
          origin.source = batch.source;
          origin.position = batch.position(i);
          decoder.decode(batch.lines[i] as string, {
            access: (r, m) => got.events.push(cloneEgressEvent(normalizer.normalize(r, m, origin))),
            skipped: (reason) => got.skipped.push(reason),
            malformed: (reason, raw) =>
              got.dead.push({
                component: 'parse',
                reason,
                origin: lineOrigin(batch.source, batch.position(i)),
                raw,
              }),
          });
        }
        committedBeforeAck = await committed(kafka, groupId, topic);
        await batch.ack();
        if (batch.position(batch.lines.length - 1) === `0/${MESSAGES.length - 1}`) break;
      }
      expect(committedBeforeAck).toBe('-1');
      expect(await committed(kafka, groupId, topic)).toBe(String(MESSAGES.length));
    } finally {
      clearTimeout(guard);
      controller.abort();
      await source.close();
    }

    expect(got.events.map((e) => [e.reporter, e.path, e.destination.host, e.source.key, e.origin])).toEqual([
      [
        'egress-gateway',
        'gateway-to-external',
        'edition.cnn.com',
        'unknown/172.30.239.55',
        `kafka:${topic}/0/0`,
      ],
      ['sidecar', 'direct-external', 'httpbin.org', 'default/sleep-canonical', `kafka:${topic}/0/2`],
      [
        'egress-gateway',
        'gateway-to-external',
        'edition.cnn.com',
        'unknown/172.30.239.55',
        `kafka:${topic}/0/4`,
      ],
      // The sidecar line above taught the map that 10.244.0.67 is default/sleep-canonical... the OTLP gateway
      // line's caller is 172.30.239.15, which no sidecar revealed.
      [
        'egress-gateway',
        'gateway-to-external',
        'edition.cnn.com',
        'unknown/172.30.239.15',
        `kafka:${topic}/0/4`,
      ],
      // A bare sidecar line: its own pod IP (downstream remote) was revealed by the Filebeat line.
      ['sidecar', 'blackhole', null, 'default/sleep-canonical', `kafka:${topic}/0/6`],
      ['sidecar', 'internal', 'mock-server', 'default/sleep', `kafka:${topic}/0/7`],
    ]);
    expect(got.dead.map((d) => [d.origin, d.reason])).toEqual([
      [`kafka:${topic}/0/3`, 'TEXT access line: expected 22 fields for the 1.9+ layout, found 16'],
      [`kafka:${topic}/0/5`, expect.stringMatching(/^not valid JSON/)],
    ]);
    expect(got.dead[0]?.raw).toBe(MESSAGES[3]);
    expect(got.skipped).toEqual(['proxy log (pilot-agent/Envoy)', 'proxy log (pilot-agent/Envoy)']);
  });
});

describe('Kafka source: where each partition stands', () => {
  it('names assigned partitions with lines not yet handed over, and says when a batch reached the end', async () => {
    const brokers = kafkaBrokers();
    const topic = uniqueName('unread');
    const groupId = uniqueName('unread-group');
    const kafka = new Kafka({ clientId: 'unread-test', brokers, logLevel: logLevel.WARN });
    // Partitions 0 and 1 have lines; partition 2 stays empty (nothing to wait for).
    await topicWith(kafka, topic, 3, [
      { partition: 0, value: 'a' },
      { partition: 0, value: 'b' },
      { partition: 1, value: 'c' },
    ]);
    const source = sourceFor(brokers, groupId, topic);
    const controller = new AbortController();
    const guard = setTimeout(() => controller.abort(), 60_000);
    const stream = (p: number): string => `kafka:${topic}/${p}`;
    try {
      const batches = source.batches(controller.signal)[Symbol.asyncIterator]();
      const first = (await batches.next()).value as LineBatch;
      // Until the backlog query answers, every assigned partition not handed over counts as unread;
      // then the first partition handed over is read, the other with lines is named until its batch
      // is, and the empty one (2) is named empty: caught up from the start.
      const firstPartition = Number(first.position(0).split('/')[0]);
      const other = firstPartition === 0 ? 1 : 0;
      const deadline = Date.now() + 15_000;
      while (!source.emptyStreams().has(stream(2)) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect([...source.unreadStreams()]).toEqual([stream(other)]);
      expect([...source.emptyStreams()]).toEqual([stream(2)]);
      // Where its reader stands (stage 2 holds for it again once lines are written past it).
      expect(source.emptyStreamPosition(stream(2))).toBe(0);
      expect(first.caughtUp).toBe(true);
      const second = (await batches.next()).value as LineBatch;
      expect(second.position(0).startsWith(`${other}/`)).toBe(true);
      expect([...source.unreadStreams()]).toEqual([]);
      expect(second.caughtUp).toBe(true);
    } finally {
      clearTimeout(guard);
      controller.abort();
      await source.close();
    }
  });
});

describe('Kafka source: partition lag', () => {
  it('says how many messages were left in the partition after each batch', async () => {
    const brokers = kafkaBrokers();
    const topic = uniqueName('lag');
    const kafka = new Kafka({ clientId: 'lag-test', brokers, logLevel: logLevel.WARN });
    // Two produce requests: two record batches, which a tiny fetch size hands over one at a time.
    await topicWith(kafka, topic, 1, [{ value: 'a' }]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'b' }, { value: 'c' }] });
    await producer.disconnect();
    const source = sourceFor(brokers, uniqueName('lag-group'), topic, { maxBytesPerPartition: 1 });
    const controller = new AbortController();
    const guard = setTimeout(() => controller.abort(), 60_000);
    try {
      const batches = source.batches(controller.signal)[Symbol.asyncIterator]();
      const first = (await batches.next()).value as LineBatch;
      expect(first.lines).toEqual(['a']);
      expect(first.lag).toEqual({ topic, partition: 0, messages: 2 });
      expect(first.caughtUp).toBe(false);
      await first.ack();
      const second = (await batches.next()).value as LineBatch;
      expect(second.lines).toEqual(['b', 'c']);
      expect(second.lag).toEqual({ topic, partition: 0, messages: 0 });
      expect(second.caughtUp).toBe(true);
    } finally {
      clearTimeout(guard);
      controller.abort();
      await source.close();
    }
  });
});
