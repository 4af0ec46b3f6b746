/**
 * Stage 1's records for the by-source topic: the events of one batch grouped per by-source
 * partition, one record per partition (split at RECORD_BYTES), in the order they were decoded.
 * Kafka and kafkajs cost about as much per record as encoding the event itself (partitioner call,
 * record encoding and CRC on produce; record objects and offsets on fetch), so one record per event
 * cost stage 1 and 2 about a tenth of their CPU. The partition is the one Kafka's default partitioner
 * (murmur2, as in the Java client) gives the event's partition key (namespace or identity,
 * `scale.partitionBy`), so other Kafka tools still agree on where a key lives; records carry no
 * key (they hold several).
 */
import { type Message, Partitioners, type PartitionMetadata } from 'kafkajs';
import { encodeEventRecord } from './event-codec.js';

/** Below the broker's default 1 MiB message.max.bytes, with room for the record batch around it. */
const RECORD_BYTES = 256 * 1024;
/** Partition keys whose partition is remembered (a murmur2 per event otherwise). */
const CACHED_KEYS = 100_000;

export class BySourceRecords {
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly metadata: PartitionMetadata[];
  private readonly cache = new Map<string, number>();

  constructor(
    private readonly topic: string,
    readonly partitions: number,
  ) {
    this.metadata = Array.from({ length: partitions }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
    }));
  }

  /** The by-source partition of a partition key. */
  partitionOf(key: string): number {
    let p = this.cache.get(key);
    if (p === undefined) {
      p = this.partitioner({
        topic: this.topic,
        partitionMetadata: this.metadata,
        message: { key, value: null },
      });
      if (this.cache.size >= CACHED_KEYS) this.cache.clear();
      this.cache.set(key, p);
    }
    return p;
  }

  /** `messages` (key = partition key, value = one encoded event) as one record per partition and size. */
  records(messages: readonly Message[]): Message[] {
    const values: string[][] = Array.from({ length: this.partitions }, () => []);
    const sizes = new Array<number>(this.partitions).fill(0);
    const out: Message[] = [];
    for (const m of messages) {
      const p = this.partitionOf(m.key as string);
      const value = m.value as string;
      const list = values[p] as string[];
      if ((sizes[p] as number) + value.length > RECORD_BYTES && list.length > 0) {
        out.push({ partition: p, value: encodeEventRecord(list) });
        values[p] = [];
        sizes[p] = 0;
      }
      (values[p] as string[]).push(value);
      sizes[p] = (sizes[p] as number) + value.length + 1;
    }
    for (let p = 0; p < this.partitions; p++) {
      const list = values[p] as string[];
      if (list.length > 0) out.push({ partition: p, value: encodeEventRecord(list) });
    }
    return out;
  }
}
