/**
 * Restore rate of detector state from the changelog: writes K identities' binary state (a real
 * `DetectionState.exportKeyBytes` value with `--baselines` baselines, by default one host and one
 * domain baseline) to a fresh compacted topic of P partitions on the real broker, then times
 * `restorePartitions` for all of them (read) and the import into a fresh DetectionState, and prints
 * keys/s and MB/s. `npm run bench:restore -- [--keys 100000] [--baselines 2] [--partitions 4] [--json]`.
 * Needs Kafka on KAFKA_BROKERS (default 127.0.0.1:9092).
 */
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULT_KAFKA_BROKERS } from '../src/config/defaults.js';
import { Baseline } from '../src/detect/state/baseline.js';
import { DetectionState } from '../src/detect/state/store.js';
import { ChangelogWriter, restorePartitions } from '../src/scale/changelog.js';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    baselines: { type: 'string', default: '2' },
    partitions: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
});
const keys = Number(values.keys);
const baselines = Number(values.baselines);
// A real identity's state: `baselines` host/domain baselines with some traffic in them.
const template = new DetectionState({ maxKeys: 1_000_000, tzOffsetMs: 0 });
for (let b = 0; b < baselines; b++) {
  const table = b % 2 === 0 ? template.hosts : template.domains;
  const baseline = table.touch(`ns/w\u0001host-${b}.example.com`, 0, () => new Baseline());
  for (let h = 0; h < 48; h++)
    baseline.add(1_740_960_000_000 + h * 3_600_000, 0, 10 + h, 1, 5000 * h, 300 * h);
}
const value = template.exportKeyBytes('ns/w');
const valueBytes = value.length;
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
const t0 = Date.now();
const CHUNK = 2000;
for (let start = 0; start < keys; start += CHUNK * partitions) {
  await Promise.all(
    Array.from({ length: partitions }, (_, p) => {
      const changes = new Map<string, Buffer | null>();
      for (let i = start + p; i < Math.min(keys, start + CHUNK * partitions); i += partitions)
        changes.set(`ns${i % 97}/workload-${i}`, value);
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
const t2 = process.hrtime.bigint();
const into = new DetectionState({ maxKeys: keys * baselines + 1, tzOffsetMs: 0 });
for (const r of restored) for (const [id, bytes] of r.entries) into.importKeyBytes(id, bytes);
const importMs = Number(process.hrtime.bigint() - t2) / 1e6;
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
  importMs: Math.round(importMs),
  keysPerSecWithImport: Math.round(restoredKeys / ((ms + importMs) / 1000)),
  mbPerSec: Number(((records * valueBytes) / 1e6 / (ms / 1000)).toFixed(1)),
  writeKeysPerSec: Math.round(keys / (writeMs / 1000)),
};
if (values.json) console.log(JSON.stringify(result));
else
  console.log(
    `restored ${result.keys} keys (${records} records of ~${valueBytes} B, ${partitions} partitions) in ${result.restoreMs} ms: ${result.keysPerSec} keys/s, ${result.mbPerSec} MB/s; with the import into detector state ${result.keysPerSecWithImport} keys/s (checkpoint write ${result.writeKeysPerSec} keys/s); includes the throw-away group join`,
  );
if (restoredKeys !== keys) {
  console.error(`expected ${keys} keys, restored ${restoredKeys}`);
  process.exitCode = 1;
}
