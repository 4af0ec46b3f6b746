/**
 * `simulate --to kafka://...` on the real broker: every line arrives as one message, in order per
 * reporting pod (the message key), and equals what the same options write to a file.
 */
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { generateTraffic } from '../../src/simulate/generate.js';
import { parseKafkaTarget, writeMessagesToKafka } from '../../src/simulate/output.js';
import { HOUR } from '../../src/simulate/topology.js';
import { kafkaBrokers, uniqueName } from './helpers/stack.js';

describe('simulate to Kafka', () => {
  it('produces every simulated line to the topic, keyed by the reporting pod', async () => {
    const topic = uniqueName('simulate');
    const options = {
      durationMs: 2 * HOUR,
      envelope: 'fluent-bit' as const,
      attacks: ['blocked-probing' as const],
      attackStart: Date.parse('2025-03-03T01:00:00Z'),
    };
    const target = parseKafkaTarget(`kafka://${kafkaBrokers().join(',')}/${topic}`);
    if (target === null) throw new Error('not a kafka target');
    const sent = await writeMessagesToKafka(generateTraffic(options).messages(), target, undefined, 500);
    const expected = [...generateTraffic(options)];
    expect(sent).toBe(expected.length);

    const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('simulate-reader') });
    const received: { key: string; value: string }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          received.push({ key: String(message.key), value: String(message.value) });
          if (received.length >= expected.length) resolve();
        },
      });
    });
    await Promise.race([
      done,
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error(`only ${received.length} of ${expected.length} messages arrived`)),
          60_000,
        ),
      ),
    ]);
    await consumer.disconnect();

    expect(received.map((m) => m.value).sort()).toEqual([...expected].sort());
    for (const m of received.slice(0, 50))
      expect((JSON.parse(m.value) as { kubernetes: { pod_name: string } }).kubernetes.pod_name).toBe(m.key);
    // One pod's lines keep their order.
    const pod = received[0]?.key;
    const mine = received.filter((m) => m.key === pod).map((m) => m.value);
    expect(mine).toEqual(expected.filter((v) => mine.includes(v)));
  });
});
