/**
 * Detector state checkpointed to a compacted topic, keyed by source identity, value = the state
 * that identity exported as bytes (a tombstone when it was evicted). Partition p of the changelog holds the
 * state of partition p of the by-source topic, so an instance restores exactly the partitions it
 * was assigned. One extra record per partition (key META_KEY) holds what is not per identity: the
 * learning clock, the watermark and the input position the state corresponds to.
 *
 * This file writes it; changelog-restore.ts reads it back (changelog-read.ts / changelog-fetch.ts
 * fetch, changelog-packed.ts carries records across threads, changelog-import.ts imports them).
 */
import type { Message, Producer } from 'kafkajs';

/** Cannot be a source identity key (those never start with a NUL). */
export const META_KEY = '\u0000meta';

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
