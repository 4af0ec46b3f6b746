/**
 * The changelog restore against the real broker: records arrive at the importer in offset order
 * (so a later version replaces an earlier one and a tombstone deletes), across more than one fetch,
 * and a value that cannot be imported fails the restore naming the record.
 */
import { CompressionTypes, Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { Detection } from '../../src/pipeline/detection.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import type { ChangelogImporter } from '../../src/scale/changelog-import.js';
import { restorePartitions } from '../../src/scale/changelog-restore.js';
import { ChangelogWriter } from '../../src/scale/changelog-writer.js';
import { PartitionTask } from '../../src/scale/partition-task.js';
import { egressEvent, T0 } from '../helpers/events.js';
import { kafkaBrokers, uniqueName } from './helpers/stack.js';

const kafka = new Kafka({
  clientId: 'test-changelog-restore',
  brokers: kafkaBrokers(),
  logLevel: logLevel.NOTHING,
});
const created: string[] = [];

async function changelogTopic(partitions: number): Promise<string> {
  const topic = uniqueName('test-changelog');
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [
        { topic, numPartitions: partitions, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      ],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  created.push(topic);
  return topic;
}

/**
 * A 2-partition changelog and a writer on it, from the built modules: the reader's worker thread
 * exists only built (npm run build), so these tests restore with the built module.
 */
async function builtChangelog(): Promise<{
  built: typeof import('../../src/scale/changelog-restore.js');
  topic: string;
  producer: Producer;
  writer: ChangelogWriter;
}> {
  const built = (await import(
    new URL('../../dist/src/scale/changelog-restore.js', import.meta.url).href
  )) as typeof import('../../src/scale/changelog-restore.js');
  const topic = await changelogTopic(2);
  const producer = kafka.producer();
  await producer.connect();
  return { built, topic, producer, writer: new ChangelogWriter(producer, topic) };
}

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: created }).catch(() => {});
  await admin.disconnect();
});

const config = DetectionConfigSchema.parse({});
const newDetection = (): Detection => new Detection({ detection: config, policies: new PolicySet([]) });
const meta = (upTo: number) => JSON.stringify({ v: 1, seenUpTo: String(upTo), watermark: 0, global: {} });

/** An identity's exported state after traffic to `hosts`. */
function stateFor(id: string, hosts: string[]): Buffer {
  const analyzer = newDetection();
  const [ns = 'ns', workload = 'w'] = id.split('/');
  for (const host of hosts) {
    const e = egressEvent({ time: T0, host });
    e.source = { ...e.source, key: id, namespace: ns, workload };
    analyzer.engine.observe(e);
  }
  analyzer.engine.flush();
  const bytes = analyzer.exportState([id]).get(id);
  if (bytes == null) throw new Error(`no state for ${id}`);
  return bytes;
}

describe('changelog restore', () => {
  it('imports superseded versions and tombstones in offset order, so the latest state wins', async () => {
    const topic = await changelogTopic(2);
    const producer = kafka.producer();
    await producer.connect();
    const writer = new ChangelogWriter(producer, topic);
    // Partition 0: a/a with two hosts, b/b, then a/a with one host and a tombstone for b/b.
    await writer.write(
      0,
      new Map([
        ['a/a', stateFor('a/a', ['www.ibm.com', 'api.github.com'])],
        ['b/b', stateFor('b/b', ['www.ibm.com'])],
      ]),
      meta(10),
    );
    await writer.write(
      0,
      new Map([
        ['a/a', stateFor('a/a', ['www.ibm.com'])],
        ['b/b', null],
      ]),
      meta(20),
    );
    // Partition 1: 4,000 identities, about 10 MB: more than one fetch (8 MB per partition) and many
    // import slices.
    const many = stateFor('x/x', ['api.example.com']);
    for (let start = 0; start < 4000; start += 500) {
      const changes = new Map<string, Buffer | null>();
      for (let i = start; i < start + 500; i++) changes.set(`many/w${i}`, many);
      await writer.write(1, changes, meta(start));
    }
    await producer.disconnect();

    const calls: string[] = [];
    const detections = [newDetection(), newDetection()];
    const tasks = detections.map((d, p) => new PartitionTask(p, d, null));
    const stats = await restorePartitions(kafka, topic, [0, 1], 'test', (p) => {
      const task = tasks[p] as PartitionTask;
      if (p === 1) return task;
      const recording: ChangelogImporter = {
        put: (key, value) => {
          calls.push(`put ${key}`);
          task.put(key, value);
        },
        delete: (key) => {
          calls.push(`delete ${key}`);
          task.delete(key);
        },
        meta: (text) => {
          calls.push(`meta ${JSON.parse(text).seenUpTo}`);
          task.meta(text);
        },
      };
      return recording;
    });
    expect(calls).toEqual(['put a/a', 'put b/b', 'meta 10', 'put a/a', 'delete b/b', 'meta 20']);
    expect(stats.find((s) => s.partition === 0)).toMatchObject({ records: 6, tombstones: 1 });
    const a = detections[0] as Detection;
    expect(a.engine.state.keys()).toEqual(['a/a']);
    expect(a.engine.state.hosts.group('a/a').map(([host]) => host)).toEqual(['www.ibm.com']);
    // www.ibm.com, ibm.com and the identity total over all destinations.
    expect(a.stateSize()).toBe(3);
    const many1 = detections[1] as Detection;
    expect(many1.identityCount()).toBe(4000);
    expect(stats.find((s) => s.partition === 1)).toMatchObject({ records: 4008, tombstones: 0 });
  }, 60_000);

  it('reads in a worker thread when built, handing over the same records in the same order', async () => {
    const { built, topic, producer, writer } = await builtChangelog();
    const a1 = stateFor('a/a', ['www.ibm.com', 'api.github.com']);
    const a2 = stateFor('a/a', ['www.ibm.com']);
    await writer.write(
      0,
      new Map([
        ['a/a', a1],
        ['b/b', stateFor('b/b', ['www.ibm.com'])],
      ]),
      meta(10),
    );
    await writer.write(
      0,
      new Map<string, Buffer | null>([
        ['a/a', a2],
        ['b/b', null],
      ]),
      meta(20),
    );
    const many = stateFor('x/x', ['api.example.com']);
    for (let start = 0; start < 2000; start += 500) {
      const changes = new Map<string, Buffer | null>();
      for (let i = start; i < start + 500; i++) changes.set(`many/w${i}`, many);
      await writer.write(1, changes, meta(start));
    }
    await producer.disconnect();
    const calls: string[] = [];
    const values = new Map<string, Buffer>();
    let manyPuts = 0;
    let aligned = 0;
    const stats = await built.restorePartitions(
      { clientId: 'test-changelog-worker', brokers: kafkaBrokers() },
      topic,
      [0, 1],
      'test',
      (p) => ({
        put: (key, value, owned) => {
          if (p === 1) {
            manyPuts++;
            expect(value.equals(many)).toBe(true);
            // Baselines (at the value's end) are aligned for use in place.
            if (owned && (value.byteOffset + value.length) % 8 === 0) aligned++;
            return;
          }
          calls.push(`put ${key}`);
          values.set(`${key}#${calls.length}`, Buffer.from(value));
        },
        delete: (key) => void calls.push(`delete ${key}`),
        meta: (text) => {
          if (p === 0) calls.push(`meta ${JSON.parse(text).seenUpTo}`);
        },
      }),
    );
    expect(calls).toEqual(['put a/a', 'put b/b', 'meta 10', 'put a/a', 'delete b/b', 'meta 20']);
    expect(values.get('a/a#1')?.equals(a1)).toBe(true);
    expect(values.get('a/a#4')?.equals(a2)).toBe(true);
    expect(manyPuts).toBe(2000);
    expect(aligned).toBe(2000);
    expect(stats.find((s) => s.partition === 1)).toMatchObject({ records: 2004, tombstones: 0 });
  }, 60_000);

  it('reads the batches after a compressed one with kafkajs, handing every record over once and in order', async () => {
    // The worker's direct fetch reads uncompressed batches only; compression switched on for a
    // changelog that already has state puts compressed batches after more than one fetch of plain ones.
    const { built, topic, producer, writer } = await builtChangelog();
    const many = stateFor('x/x', ['api.example.com']);
    // 700 values of ~2.4 KB: more than one fetch of 1 MiB per partition before the compressed batch.
    const first = new Map<string, Buffer | null>();
    for (let i = 0; i < 700; i++) first.set(`many/w${i}`, many);
    await writer.write(0, first, meta(1));
    await writer.write(1, new Map([['c/c', many]]), meta(2));
    const a = stateFor('a/a', ['www.ibm.com']);
    await producer.send({
      topic,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: [
        { key: 'a/a', value: a, partition: 0 },
        { key: 'many/w3', value: null, partition: 0 },
        { key: '\u0000meta', value: meta(3), partition: 0 },
      ],
    });
    await producer.disconnect();
    const seen: string[][] = [[], []];
    const stats = await built.restorePartitions(
      { clientId: 'test-changelog-compressed', brokers: kafkaBrokers() },
      topic,
      [0, 1],
      'test',
      (p) => ({
        put: (key, value) => {
          expect(value.equals(key === 'a/a' ? a : many)).toBe(true);
          seen[p]?.push(`put ${key}`);
        },
        delete: (key) => void seen[p]?.push(`delete ${key}`),
        meta: (text) => void seen[p]?.push(`meta ${JSON.parse(text).seenUpTo}`),
      }),
    );
    const expected = [...first.keys()].map((k) => `put ${k}`);
    expected.push('meta 1', 'put a/a', 'delete many/w3', 'meta 3');
    expect(seen[0]).toEqual(expected);
    expect(seen[1]).toEqual(['put c/c', 'meta 2']);
    expect(stats.find((s) => s.partition === 0)).toMatchObject({ records: 704, tombstones: 1 });
  }, 60_000);

  it('fails naming the record when a value cannot be imported', async () => {
    const topic = await changelogTopic(1);
    const producer = kafka.producer();
    await producer.connect();
    await new ChangelogWriter(producer, topic).write(
      0,
      new Map([['bad/state', Buffer.from([9, 9, 9])]]),
      meta(1),
    );
    await producer.disconnect();
    const task = new PartitionTask(0, newDetection(), null);
    await expect(restorePartitions(kafka, topic, [0], 'test', () => task)).rejects.toThrow(
      new RegExp(`Cannot restore ${topic}/0/0 \\(key "bad/state"\\): unsupported binary state for bad/state`),
    );
  }, 60_000);
});
