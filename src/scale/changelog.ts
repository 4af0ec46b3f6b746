/**
 * Detector state checkpointed to a compacted topic, keyed by source identity, value = the state
 * that identity exported as bytes (a tombstone when it was evicted). Partition p of the changelog holds the
 * state of partition p of the by-source topic, so an instance restores exactly the partitions it
 * was assigned. One extra record per partition (key META_KEY) holds what is not per identity: the
 * learning clock, the watermark and the input position the state corresponds to.
 */
import { randomUUID } from 'node:crypto';
import {
  AssignerProtocol,
  type Kafka,
  type KafkaMessage,
  type Message,
  type PartitionAssigner,
  type Producer,
} from 'kafkajs';
import { SentinelError } from '../errors.js';

/** Cannot be a source identity key (those never start with a NUL). */
export const META_KEY = '\u0000meta';

/**
 * Where a restore puts one partition's records, in offset order: a later version of a key
 * replaces the earlier one, a tombstone deletes it (compaction may not have removed superseded
 * versions yet, so both arrive). Throws on a value it cannot read; the restore then fails.
 */
export interface ChangelogImporter {
  put(key: string, value: Buffer): void;
  delete(key: string): void;
  /** A META_KEY record; the last one read is the partition's position. */
  meta(text: string): void;
}

/** A changelog record that cannot be imported: retrying reads the same bytes again. */
export class ChangelogImportError extends SentinelError {
  readonly retriable = false;
}

export interface RestoreStats {
  partition: number;
  /** Records read, META_KEY ones included. */
  records: number;
  tombstones: number;
}

export class ChangelogWriter {
  constructor(
    private readonly producer: Producer,
    readonly topic: string,
  ) {}

  /**
   * Writes one partition's changed keys (null = tombstone) and its meta record; resolves once the
   * broker acknowledged all of them (acks=-1), which is when the input offsets may be committed.
   * The meta record is always the partition's last record: it is never compacted away (it is the
   * latest version of its key), so a restore always finds a record at high watermark - 1.
   */
  async write(
    partition: number,
    changes: ReadonlyMap<string, Buffer | string | null>,
    meta: string,
  ): Promise<number> {
    // The broker refuses record batches over message.max.bytes (1 MiB by default): send in
    // chunks, one after the other so the meta record stays the last one in the partition.
    let messages: Message[] = [];
    let bytes = 0;
    let sent = 0;
    for (const [key, value] of changes) {
      messages.push({ key, value, partition });
      bytes += key.length + (value?.length ?? 0) + 32;
      if (bytes >= CHUNK_BYTES) {
        await this.producer.send({ topic: this.topic, acks: -1, messages });
        sent += messages.length;
        messages = [];
        bytes = 0;
      }
    }
    messages.push({ key: META_KEY, value: meta, partition });
    await this.producer.send({ topic: this.topic, acks: -1, messages });
    return sent + messages.length;
  }
}

const CHUNK_BYTES = 512 * 1024;

/** A group assigner that gives its single member exactly `partitions` of `topic`. */
function fixedAssigner(topic: string, partitions: readonly number[]): PartitionAssigner {
  return () => ({
    name: 'EgressSentinelRestore',
    version: 1,
    protocol: ({ topics }) => ({
      name: 'EgressSentinelRestore',
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
    }),
    assign: async ({ members }) =>
      members.map((m, i) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: i === 0 ? { [topic]: [...partitions] } : {},
          userData: Buffer.alloc(0),
        }),
      })),
  });
}

/** Fetched records waiting to be imported before the next fetch is held back. */
const IMPORT_BACKLOG_BYTES = 64 * 1024 * 1024;
/** Records imported between yields to the event loop (so the next fetch's bytes are read meanwhile). */
const IMPORT_SLICE = 512;

interface PendingBatch {
  partition: number;
  importer: ChangelogImporter;
  messages: KafkaMessage[];
  /** Messages before this index are imported. */
  next: number;
  /** High watermark at the start of the restore: records at or after it are not restored. */
  end: bigint;
  bytes: number;
  /** The partition's last batch: it is restored once this one is imported. */
  last: boolean;
}

/**
 * Reads `partitions` of the changelog from the beginning to their current high watermark and
 * imports every record into `importerFor(partition)` as it arrives, resolving when all are imported.
 * Import overlaps the reading: each fetched batch is handed over and the next fetch goes out while
 * it is imported (the way Kafka Streams restores), in slices so the response is read meanwhile.
 * kafkajs has no manual partition assignment, so a throw-away consumer group with an assigner that
 * hands its one member exactly these partitions does the reading (it never commits; the broker
 * forgets it).
 */
export async function restorePartitions(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  groupPrefix: string,
  importerFor: (partition: number) => ChangelogImporter,
): Promise<RestoreStats[]> {
  if (partitions.length === 0) return [];
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { partition: number; high: string; low: string }[];
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const stats = new Map<number, RestoreStats>();
  const importers = new Map<number, ChangelogImporter>();
  const remaining = new Set<number>();
  for (const p of partitions) {
    const o = offsets.find((x) => x.partition === p);
    if (o === undefined)
      throw new SentinelError('ESN_STATE', `Changelog ${topic} has no partition ${p}.`, { where: topic });
    stats.set(p, { partition: p, records: 0, tombstones: 0 });
    importers.set(p, importerFor(p));
    if (BigInt(o.high) > BigInt(o.low)) remaining.add(p);
  }
  if (remaining.size === 0) return [...stats.values()];
  const high = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  /** Partitions whose last record was read but maybe not imported yet. */
  const unimported = new Set(remaining);

  const consumer = kafka.consumer({
    groupId: `${groupPrefix}-restore-${randomUUID()}`,
    partitionAssigners: [fixedAssigner(topic, [...remaining])],
    maxBytes: 32 * 1024 * 1024,
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxWaitTimeInMs: 50,
    sessionTimeout: 30_000,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const queue: PendingBatch[] = [];
      let queuedBytes = 0;
      let pumping = false;
      /** Wakes an eachBatch waiting for the import backlog to shrink. */
      let drained: (() => void) | null = null;
      let failed = false;
      const fail = (err: unknown): void => {
        failed = true;
        drained?.();
        drained = null;
        reject(err);
      };
      consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));

      /** Imports up to IMPORT_SLICE records, then yields; stops when the queue is empty. */
      const pump = (): void => {
        if (failed) return;
        let budget = IMPORT_SLICE;
        try {
          while (budget > 0 && queue.length > 0) {
            const b = queue[0] as PendingBatch;
            const r = stats.get(b.partition) as RestoreStats;
            const stop = Math.min(b.messages.length, b.next + budget);
            for (let i = b.next; i < stop; i++) {
              const m = b.messages[i] as KafkaMessage;
              if (BigInt(m.offset) >= b.end) break;
              r.records++;
              const key = m.key?.toString() ?? '';
              try {
                if (key === META_KEY) b.importer.meta(m.value?.toString() ?? '');
                else if (m.value === null) {
                  r.tombstones++;
                  b.importer.delete(key);
                } else b.importer.put(key, m.value);
              } catch (err) {
                throw new ChangelogImportError(
                  'ESN_STATE',
                  `Cannot restore ${topic}/${b.partition}/${m.offset} (key ${JSON.stringify(key)}): ${(err as Error).message}`,
                  { where: `${topic}/${b.partition}/${m.offset}`, cause: err },
                );
              }
            }
            budget -= stop - b.next;
            b.next = stop;
            if (b.next < b.messages.length) continue;
            queue.shift();
            queuedBytes -= b.bytes;
            if (b.last) {
              unimported.delete(b.partition);
              if (unimported.size === 0) resolve();
            }
          }
        } catch (err) {
          fail(err);
          return;
        }
        if (queuedBytes <= IMPORT_BACKLOG_BYTES && drained !== null) {
          const wake = drained;
          drained = null;
          wake();
        }
        if (queue.length > 0) setImmediate(pump);
        else pumping = false;
      };

      consumer
        .run({
          // Never commits (the group is thrown away); batches auto-resolve so the position advances.
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (failed || !remaining.has(batch.partition)) return;
            const end = high.get(batch.partition) as bigint;
            const lastOffset = batch.messages.length > 0 ? BigInt(batch.lastOffset()) : -1n;
            const last = lastOffset + 1n >= end;
            if (last) {
              remaining.delete(batch.partition);
              consumer.pause([{ topic, partitions: [batch.partition] }]);
            }
            let bytes = 0;
            for (const m of batch.messages) bytes += (m.value?.length ?? 0) + 64;
            queue.push({
              partition: batch.partition,
              importer: importers.get(batch.partition) as ChangelogImporter,
              messages: batch.messages,
              next: 0,
              end,
              bytes,
              last,
            });
            queuedBytes += bytes;
            if (!pumping) {
              pumping = true;
              setImmediate(pump);
            }
            // Hand the batch over and let the next fetch go out, unless too much is still waiting.
            if (queuedBytes > IMPORT_BACKLOG_BYTES)
              await new Promise<void>((wake) => {
                drained = wake;
              });
          },
        })
        .catch(fail);
    });
  } finally {
    await consumer.disconnect();
  }
  return [...stats.values()];
}
