/**
 * Detector state checkpointed to a compacted topic, keyed by source identity, value = the state
 * that identity exported as bytes (a tombstone when it was evicted). Partition p of the changelog holds the
 * state of partition p of the by-source topic, so an instance restores exactly the partitions it
 * was assigned. One extra record per partition (key META_KEY) holds what is not per identity: the
 * learning clock, the watermark and the input position the state corresponds to.
 */
import { randomUUID } from 'node:crypto';
import { AssignerProtocol, type Kafka, type Message, type PartitionAssigner, type Producer } from 'kafkajs';
import { SentinelError } from '../errors.js';

/** Cannot be a source identity key (those never start with a NUL). */
export const META_KEY = '\u0000meta';

export interface RestoredPartition {
  partition: number;
  /** Latest value per key (tombstoned keys removed); META_KEY is not in it. */
  entries: Map<string, Buffer>;
  meta: string | null;
  /** Records read (compaction may not have removed superseded versions yet). */
  records: number;
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

/**
 * Reads `partitions` of the changelog from the beginning to their current high watermark. kafkajs
 * has no manual partition assignment, so a throw-away consumer group with an assigner that hands
 * its one member exactly these partitions does it (it never commits; the broker forgets it).
 */
export async function restorePartitions(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  groupPrefix: string,
): Promise<RestoredPartition[]> {
  if (partitions.length === 0) return [];
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { partition: number; high: string; low: string }[];
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const results = new Map<number, RestoredPartition>();
  const remaining = new Set<number>();
  for (const p of partitions) {
    const o = offsets.find((x) => x.partition === p);
    if (o === undefined)
      throw new SentinelError('ESN_STATE', `Changelog ${topic} has no partition ${p}.`, { where: topic });
    results.set(p, { partition: p, entries: new Map(), meta: null, records: 0 });
    if (BigInt(o.high) > BigInt(o.low)) remaining.add(p);
  }
  if (remaining.size === 0) return [...results.values()];
  const high = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));

  const consumer = kafka.consumer({
    groupId: `${groupPrefix}-restore-${randomUUID()}`,
    partitionAssigners: [fixedAssigner(topic, [...remaining])],
    maxBytes: 64 * 1024 * 1024,
    maxBytesPerPartition: 16 * 1024 * 1024,
    maxWaitTimeInMs: 50,
    sessionTimeout: 30_000,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
      consumer
        .run({
          // Never commits (the group is thrown away); batches auto-resolve so the position advances.
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const r = results.get(batch.partition);
            if (r === undefined || !remaining.has(batch.partition)) return;
            const entries = r.entries;
            const end = high.get(batch.partition) as bigint;
            for (const m of batch.messages) {
              if (BigInt(m.offset) >= end) break;
              r.records++;
              const key = m.key?.toString() ?? '';
              if (key === META_KEY) r.meta = m.value?.toString() ?? null;
              else if (m.value === null) entries.delete(key);
              else entries.set(key, m.value); // binary state: no copy, no decoding
            }
            const last = batch.messages.length > 0 ? BigInt(batch.lastOffset()) : -1n;
            if (last + 1n >= end) {
              remaining.delete(batch.partition);
              consumer.pause([{ topic, partitions: [batch.partition] }]);
              if (remaining.size === 0) resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return [...results.values()];
}
