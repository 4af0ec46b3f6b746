/**
 * Restore rate of detector state from the changelog. Writes K identities' state to a fresh compacted
 * topic of P partitions on the real broker (the value is a real identity's export from the real
 * detectors after two days of traffic: `--baselines` host and domain baselines, by default one host
 * and its domain, plus the new-destination detector's part), then times two restores of all of it:
 * reading alone, and end to end (read and import into fresh detection engines, one per partition, as
 * `egress-sentinel run` does on assignment; till every partition is ready), and prints keys/s.
 * `npm run bench:restore -- [--keys 100000] [--baselines 2] [--partitions 4] [--json]`
 * (`--topic T --keep` reuse and keep a topic, `--no-read` skips reading alone: e.g. to profile a restore;
 * `--in-thread` reads in the importing thread instead of a worker; the reader worker is started
 * before the clock starts, as `egress-sentinel run` starts it at start-up, unless `--cold-reader`).
 * Needs Kafka on KAFKA_BROKERS (default 127.0.0.1:9092).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULT_KAFKA_BROKERS } from '../src/config/defaults.js';
import { DetectionConfigSchema } from '../src/detect/config.js';
import { newEgressEvent } from '../src/identity/event.js';
import { Detection } from '../src/pipeline/detection.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { prestartChangelogReader, restorePartitions } from '../src/scale/changelog-restore.js';
import { ChangelogWriter } from '../src/scale/changelog-writer.js';
import { PartitionTask } from '../src/scale/partition-task.js';
import { requireStack } from './preflight.js';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    baselines: { type: 'string', default: '2' },
    partitions: { type: 'string', default: '4' },
    topic: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'no-read': { type: 'boolean', default: false },
    'in-thread': { type: 'boolean', default: false },
    'cold-reader': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const keys = Number(values.keys);
const baselines = Number(values.baselines);
if (!(baselines >= 2 && baselines % 2 === 0)) throw new Error('--baselines: an even number >= 2 (hosts x 2)');
const partitions = Number(values.partitions);
const detection = DetectionConfigSchema.parse({ maxKeys: Math.max(200_000, keys * baselines) });
const policies = new PolicySet([]);

// A real identity's state: two days of calls every 7 minutes to baselines/2 hosts, each under its own
// registrable domain, through the real detectors (baselines + new-destination's first-seen names).
const newDetection = (): Detection => new Detection({ detection, policies });
const template = newDetection();
const e = newEgressEvent();
e.path = 'sidecar-to-gateway';
e.reporter = 'sidecar';
e.protocol = 'tls';
e.source.key = 'ns/w';
e.source.namespace = 'ns';
e.source.workload = 'w';
e.destination.external = true;
e.destination.port = 443;
for (let m = 0; m < 48 * 60; m += 7) {
  for (let h = 0; h < baselines / 2; h++) {
    e.time = 1_740_960_000_000 + m * 60_000 + h;
    e.destination.host = `api.service-${h}.example${h}.com`;
    e.destination.registeredDomain = `example${h}.com`;
    e.bytesUp = 800 + m;
    e.bytesDown = 5_000 + 3 * m;
    template.observeMerged(e);
  }
}
template.advance();
const value = template.exportState(['ns/w']).get('ns/w');
if (value == null) throw new Error('the template identity exported no state');
const valueBytes = value.length;

const kafkaConfig = {
  clientId: 'bench-restore',
  brokers: (process.env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS).split(','),
};
await requireStack('bench:restore', { kafka: kafkaConfig.brokers });
const kafka = new Kafka({ ...kafkaConfig, logLevel: logLevel.NOTHING });
// As `egress-sentinel run` restores: the changelog read in a worker thread (`--in-thread`: not).
const reader = values['in-thread'] ? kafka : kafkaConfig;
const topic = values.topic ?? `bench-changelog-${Date.now().toString(36)}`;
const admin = kafka.admin();
await admin.connect();
let writeKeysPerSec: number | null = null;
const existing = await admin.listTopics();
if (!existing.includes(topic)) {
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
        const meta = { v: 1, seenUpTo: String(start), watermark: 0, global: { startTime: 0 } };
        return writer.write(p, changes, JSON.stringify(meta));
      }),
    );
  }
  writeKeysPerSec = Math.round(keys / ((Date.now() - t0) / 1000));
  await producer.disconnect();
}
const all = Array.from({ length: partitions }, (_, p) => p);

// Reading alone: every record handed to an importer that only counts.
let read = 0;
let records = 0;
let readMs = Number.NaN;
const warmReader = !values['in-thread'] && !values['cold-reader'];
if (!values['no-read']) {
  if (warmReader) await prestartChangelogReader(kafkaConfig);
  const t1 = process.hrtime.bigint();
  const readStats = await restorePartitions(reader, topic, all, 'bench', () => ({
    put: () => {
      read++;
    },
    delete: () => {},
    meta: () => {},
  }));
  readMs = Number(process.hrtime.bigint() - t1) / 1e6;
  records = readStats.reduce((n, r) => n + r.records, 0);
}

// End to end: into fresh detection engines, as a newly assigned instance does.
if (warmReader) await prestartChangelogReader(kafkaConfig);
const cpu0 = process.cpuUsage();
const t2 = process.hrtime.bigint();
const detections = all.map(() => newDetection());
const tasks = all.map((p, i) => new PartitionTask(p, detections[i] as Detection, null));
const e2eStats = await restorePartitions(reader, topic, all, 'bench', (p) => tasks[p] as PartitionTask);
records = e2eStats.reduce((n, r) => n + r.records, 0);
const e2eMs = Number(process.hrtime.bigint() - t2) / 1e6;
const cpu = process.cpuUsage(cpu0);
const identities = detections.reduce((n, d) => n + d.identityCount(), 0);
const stateKeys = detections.reduce((n, d) => n + d.stateSize(), 0);

if (!values.keep) await admin.deleteTopics({ topics: [topic] });
await admin.disconnect();
const result = {
  keys: identities,
  records,
  valueBytes,
  baselinesPerKey: baselines,
  partitions,
  readMs: Math.round(readMs),
  keysPerSecRead: Math.round(read / (readMs / 1000)),
  mbPerSecRead: Number(((records * valueBytes) / 1e6 / (readMs / 1000)).toFixed(1)),
  restoreMs: Math.round(e2eMs),
  keysPerSec: Math.round(identities / (e2eMs / 1000)),
  restoreCpuMs: Math.round((cpu.user + cpu.system) / 1000),
  writeKeysPerSec,
  readerStartedBefore: warmReader,
  load1: Number(loadavg()[0]?.toFixed(2)),
};
if (values.json) console.log(JSON.stringify(result));
else
  console.log(
    `restored ${identities} identities (${stateKeys} baselines; ${records} records of ${valueBytes} B, ${partitions} partitions) end to end, read and imported into detection state, in ${result.restoreMs} ms: ${result.keysPerSec} keys/s (${result.restoreCpuMs} CPU-ms); reading alone ${result.keysPerSecRead} keys/s, ${result.mbPerSecRead} MB/s; both include finding the leaders and offsets (and, on TLS/SASL brokers, kafkajs' throw-away group join)${warmReader ? ', not the reader thread start (done before, as `run` does at start-up)' : ''}; load average ${result.load1}`,
  );
if (identities !== keys || stateKeys !== keys * baselines) {
  console.error(
    `expected ${keys} identities with ${keys * baselines} baselines, got ${identities} and ${stateKeys}`,
  );
  process.exitCode = 1;
}
