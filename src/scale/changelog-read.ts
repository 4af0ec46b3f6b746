/**
 * Reads partitions of the changelog from the beginning to their high watermark with kafkajs: the
 * reader of a restore when the direct fetch (changelog-fetch.ts) cannot be used, in the reader
 * worker (changelog-worker.ts) or, from sources, in the importing thread (changelog-restore.ts).
 */
import { randomUUID } from 'node:crypto';
import { AssignerProtocol, type Kafka, type KafkaMessage, type PartitionAssigner } from 'kafkajs';
import { SentinelError } from '../errors.js';

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
 * Fetch sizes of a restore's reader. Small fetches: the first batch arrives sooner and reading and
 * importing overlap more finely (4 x 4 MiB fetches were slower with kafkajs: bigger joins).
 */
export const RESTORE_FETCH = { maxBytes: 4 * 1024 * 1024, maxBytesPerPartition: 1024 * 1024, maxWaitMs: 50 };

/**
 * Reads `partitions` of the changelog from the beginning to their high watermark at the start and
 * hands each fetched batch to `onBatch` (records at or after `end` are not part of the restore;
 * `last` marks a partition's last batch); resolves once every partition's last batch was handed
 * over. kafkajs has no manual partition assignment, so a throw-away consumer group with an
 * assigner that hands its one member exactly these partitions does the reading (it never commits;
 * the broker forgets it). The next fetch goes out when `onBatch` resolves.
 */
export async function readChangelog(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  groupPrefix: string,
  onBatch: (partition: number, messages: KafkaMessage[], end: bigint, last: boolean) => Promise<void>,
): Promise<void> {
  if (partitions.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { partition: number; high: string; low: string }[];
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const remaining = new Set<number>();
  for (const p of partitions) {
    const o = offsets.find((x) => x.partition === p);
    if (o === undefined)
      throw new SentinelError('ESN_STATE', `Changelog ${topic} has no partition ${p}.`, { where: topic });
    if (BigInt(o.high) > BigInt(o.low)) remaining.add(p);
  }
  if (remaining.size === 0) return;
  const high = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  const consumer = kafka.consumer({
    groupId: `${groupPrefix}-restore-${randomUUID()}`,
    partitionAssigners: [fixedAssigner(topic, [...remaining])],
    maxBytes: RESTORE_FETCH.maxBytes,
    maxBytesPerPartition: RESTORE_FETCH.maxBytesPerPartition,
    maxWaitTimeInMs: RESTORE_FETCH.maxWaitMs,
    sessionTimeout: 30_000,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      consumer.on(consumer.events.CRASH, (e) => {
        failed = true;
        reject(e.payload.error);
      });
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
            try {
              await onBatch(batch.partition, batch.messages, end, last);
            } catch (err) {
              failed = true;
              reject(err);
              return;
            }
            if (last && remaining.size === 0) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}
