/**
 * Restores partitions of detector state from the changelog (changelog-writer.ts wrote it): the
 * records are read (a reader worker, or kafkajs in this thread) and imported in offset order into
 * each partition's importer as they arrive (changelog-import.ts).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { SentinelError } from '../errors.js';
import { type ChangelogImporter, emptyLast, ImportQueue, type RestoreStats } from './changelog-import.js';
import { readChangelog } from './changelog-read.js';

/** The reader worker's module (next to this one once built; absent when running from sources). */
const WORKER_URL = new URL('./changelog-worker.js', import.meta.url);
const WORKER_AVAILABLE = existsSync(fileURLToPath(WORKER_URL));

/** What the reader worker posts. */
export type ReaderMessage =
  | { type: 'ready' }
  | { type: 'chunk'; partition: number; last: boolean; buffer: ArrayBuffer }
  | { type: 'done' }
  | { type: 'error'; message: string; retriable: boolean };

/**
 * Reads `partitions` of the changelog from the beginning to their current high watermark and
 * imports every record into `importerFor(partition)` as it arrives, in offset order; resolves when
 * all are imported. Import overlaps the reading, the way Kafka Streams restores: with a
 * KafkaConfig, a worker thread fetches and decodes (kafkajs) on the other core and transfers each
 * batch packed into one buffer, so this thread only imports; with a Kafka client (or from sources,
 * where the worker module is not built), each fetched batch is handed over and the next fetch goes
 * out while it is imported.
 */
export async function restorePartitions(
  source: Kafka | KafkaConfig,
  topic: string,
  partitions: readonly number[],
  groupPrefix: string,
  importerFor: (partition: number) => ChangelogImporter,
): Promise<RestoreStats[]> {
  const stats = new Map<number, RestoreStats>();
  const importers = new Map<number, ChangelogImporter>();
  for (const p of partitions) {
    stats.set(p, { partition: p, records: 0, tombstones: 0 });
    importers.set(p, importerFor(p));
  }
  if (partitions.length === 0) return [];
  if (source instanceof Kafka || !WORKER_AVAILABLE) {
    const kafka = source instanceof Kafka ? source : new Kafka({ ...source, logLevel: logLevel.WARN });
    const seen = new Set<number>();
    const queue = new ImportQueue(topic, importers, stats, partitions);
    try {
      await readChangelog(kafka, topic, partitions, groupPrefix, async (partition, messages, end, last) => {
        let bytes = 0;
        for (const m of messages) bytes += (m.value?.length ?? 0) + 64;
        seen.add(partition);
        queue.push({ partition, messages, end, packed: null, next: 0, bytes, last });
        // Hand the batch over and let the next fetch go out, unless too much is still waiting.
        await queue.room();
      });
    } catch (err) {
      queue.fail(err);
      throw err;
    }
    // Partitions with nothing to restore were never handed over.
    for (const p of partitions) if (!seen.has(p)) queue.push(emptyLast(p));
    await queue.done;
    return [...stats.values()];
  }
  const spare = takeSpareReader(source);
  const worker = spare ?? startReader(source);
  worker.ref();
  worker.postMessage({ read: { topic, partitions: [...partitions], groupPrefix } });
  const seen = new Set<number>();
  const queue = new ImportQueue(topic, importers, stats, partitions, (bytes) =>
    worker.postMessage({ consumed: bytes }),
  );
  worker.on('message', (m: ReaderMessage) => {
    if (m.type === 'chunk') {
      seen.add(m.partition);
      const packed = Buffer.from(m.buffer);
      queue.push({
        partition: m.partition,
        messages: null,
        end: 0n,
        packed,
        next: 0,
        bytes: packed.length,
        last: m.last,
      });
    } else if (m.type === 'ready') {
      // Started for this restore: it reads once told to, which it already was.
    } else if (m.type === 'done') {
      for (const p of partitions) if (!seen.has(p)) queue.push(emptyLast(p));
    } else {
      const err = new SentinelError('ESN_STATE', `Reading changelog ${topic}: ${m.message}`, {
        where: topic,
      });
      if (!m.retriable) Object.defineProperty(err, 'retriable', { value: false });
      queue.fail(err);
    }
  });
  worker.on('error', (err) => queue.fail(err));
  worker.on('exit', (code) => {
    if (code !== 0)
      queue.fail(new SentinelError('ESN_STATE', `The changelog reader exited with code ${code}.`));
  });
  try {
    await queue.done;
  } finally {
    await worker.terminate();
  }
  // The next restore (a rebalance) finds a reader ready too.
  if (spare !== null) void prestartChangelogReader(source).catch(() => {});
  return [...stats.values()];
}

/**
 * A reader worker started before a restore needs it: loading its modules (kafkajs) is about 70 ms
 * of a restore's start. `egress-sentinel run` starts one at start-up, before it joins the group, so
 * the restore on assignment only sends it the partitions; each restore that used one starts the
 * next. Resolves when it is ready; an idle one does not keep the process alive.
 */
export function prestartChangelogReader(config: KafkaConfig): Promise<void> {
  if (!WORKER_AVAILABLE) return Promise.resolve();
  const key = JSON.stringify(config);
  if (spareReader?.key === key) return spareReader.ready;
  if (spareReader !== null) void spareReader.worker.terminate();
  const worker = startReader(config);
  worker.unref();
  let listeners: [string, (...args: unknown[]) => void][] = [];
  const ready = new Promise<void>((resolve, reject) => {
    const onExit = (code: number): void => {
      // Gone before it was used: the next restore starts a fresh one.
      if (spareReader?.worker === worker) spareReader = null;
      reject(new SentinelError('ESN_STATE', `The changelog reader exited with code ${code} before use.`));
    };
    listeners = [
      ['message', () => resolve()],
      ['error', (err: unknown) => reject(err)],
      ['exit', (code: unknown) => onExit(code as number)],
    ];
    for (const [event, f] of listeners) worker.once(event, f);
  });
  ready.catch(() => {});
  spareReader = { worker, key, ready, listeners };
  return ready;
}

let spareReader: {
  worker: Worker;
  key: string;
  ready: Promise<void>;
  listeners: [string, (...args: unknown[]) => void][];
} | null = null;

function takeSpareReader(config: KafkaConfig): Worker | null {
  if (spareReader === null || spareReader.key !== JSON.stringify(config)) return null;
  const { worker, listeners } = spareReader;
  spareReader = null;
  // Only these: Worker's own listeners deliver its messages.
  for (const [event, f] of listeners) worker.off(event, f);
  return worker;
}

/** A reader worker that reads once it is sent `{ read }` (and says `ready` before that). */
function startReader(config: KafkaConfig): Worker {
  return new Worker(WORKER_URL, { workerData: { config } });
}
