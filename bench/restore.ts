/**
 * Restore rate of detector state from the changelog: writes K keys with V-byte values to a fresh
 * compacted topic of P partitions on the real broker, then times `restorePartitions` for all of
 * them and prints keys/s and MB/s. `node dist/bench/restore.js [--keys 100000] [--value-bytes 2400]
 * [--partitions 4] [--json]`. Needs Kafka on KAFKA_BROKERS (default 127.0.0.1:9092).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULT_KAFKA_BROKERS } from '../src/config/defaults.js';
import { ChangelogWriter, restorePartitions } from '../src/scale/changelog.js';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    'value-bytes': { type: 'string', default: '2400' },
    partitions: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
});
const keys = Number(values.keys);
const valueBytes = Number(values['value-bytes']);
const partitions = Number(values.partitions);
const kafka = new Kafka({
  clientId: 'bench-restore',
  brokers: (process.env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS).split(','),
  logLevel: logLevel.NOTHING,
});
const topic = `bench-changelog-${Date.now().toString(36)}`;

const admin = kafka.admin();
await admin.connect();
await admin.createTopics({
  topics: [
    { topic, numPartitions: partitions, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
  ],
  waitForLeaders: true,
});
const producer = kafka.producer();
await producer.connect();
const writer = new ChangelogWriter(producer, topic);
// A realistic value: a JSON object with base64 baselines, like DetectionState.exportKey.
const blob = randomBytes(Math.ceil((valueBytes * 3) / 4))
  .toString('base64')
  .slice(0, valueBytes - 40);
const t0 = Date.now();
const CHUNK = 2000;
for (let start = 0; start < keys; start += CHUNK * partitions) {
  await Promise.all(
    Array.from({ length: partitions }, (_, p) => {
      const changes = new Map<string, string | null>();
      for (let i = start + p; i < Math.min(keys, start + CHUNK * partitions); i += partitions)
        changes.set(`ns${i % 97}/workload-${i}`, `{"v":1,"hosts":{"h":"${blob}"}}`);
      return writer.write(p, changes, JSON.stringify({ upTo: start }));
    }),
  );
}
const writeMs = Date.now() - t0;
await producer.disconnect();

const t1 = process.hrtime.bigint();
const restored = await restorePartitions(
  kafka,
  topic,
  Array.from({ length: partitions }, (_, p) => p),
  'bench',
);
const ms = Number(process.hrtime.bigint() - t1) / 1e6;
const restoredKeys = restored.reduce((n, r) => n + r.entries.size, 0);
const records = restored.reduce((n, r) => n + r.records, 0);
await admin.deleteTopics({ topics: [topic] });
await admin.disconnect();
const result = {
  keys: restoredKeys,
  records,
  valueBytes,
  partitions,
  restoreMs: Math.round(ms),
  keysPerSec: Math.round(restoredKeys / (ms / 1000)),
  mbPerSec: Number(((records * valueBytes) / 1e6 / (ms / 1000)).toFixed(1)),
  writeKeysPerSec: Math.round(keys / (writeMs / 1000)),
};
if (values.json) console.log(JSON.stringify(result));
else
  console.log(
    `restored ${result.keys} keys (${records} records of ~${valueBytes} B, ${partitions} partitions) in ${result.restoreMs} ms: ${result.keysPerSec} keys/s, ${result.mbPerSec} MB/s (checkpoint write ${result.writeKeysPerSec} keys/s); includes the throw-away group join`,
  );
if (restoredKeys !== keys) {
  console.error(`expected ${keys} keys, restored ${restoredKeys}`);
  process.exitCode = 1;
}
