/**
 * The importing half of a restore: fetched changelog records (kafkajs messages, or packed by the
 * reader worker) queue up per partition and are imported in offset order into each partition's
 * `ChangelogImporter`, a slice at a time, so the reader's next fetch arrives meanwhile.
 */
import type { KafkaMessage } from 'kafkajs';
import { SentinelError } from '../errors.js';
import { KIND_META, KIND_PUT, KIND_TOMBSTONE, unpackRecords } from './changelog-packed.js';
import { META_KEY } from './changelog-writer.js';

/**
 * Where a restore puts one partition's records, in offset order: a later version of a key
 * replaces the earlier one, a tombstone deletes it (compaction may not have removed superseded
 * versions yet, so both arrive). Throws on a value it cannot read; the restore then fails.
 */
export interface ChangelogImporter {
  /** `owned`: the bytes are never written again, so the importer may keep them instead of a copy. */
  put(key: string, value: Buffer, owned: boolean): void;
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

/** Fetched records waiting to be imported before the next fetch is held back. */
export const IMPORT_BACKLOG_BYTES = 64 * 1024 * 1024;
/** Records imported between yields to the event loop (so the next fetch's bytes are read meanwhile). */
const IMPORT_SLICE = 512;

/**
 * Records of one partition for the importer, in offset order: kafkajs messages (read in this
 * thread) or records packed by the reader worker (see packRecords).
 */
export interface PendingChunk {
  partition: number;
  messages: KafkaMessage[] | null;
  /** High watermark at the start: kafkajs messages at or after it are not restored. */
  end: bigint;
  packed: Buffer | null;
  /** Packed records: byte position of the next one. Messages: index of the next one. */
  next: number;
  bytes: number;
  /** The partition's last chunk: it is restored once this one is imported. */
  last: boolean;
}

/** The empty last chunk of a partition with nothing to restore. */
export function emptyLast(partition: number): PendingChunk {
  return { partition, messages: [], end: 0n, packed: null, next: 0, bytes: 0, last: true };
}

/**
 * Imports chunks in arrival order, IMPORT_SLICE records at a time between yields to the event loop,
 * so the reader's next fetch is read meanwhile.
 */
export class ImportQueue {
  private readonly queue: PendingChunk[] = [];
  private queuedBytes = 0;
  private pumping = false;
  private unimported: Set<number>;
  private space: (() => void) | null = null;
  private failure: unknown = null;
  readonly done: Promise<void>;
  private resolveDone: () => void = () => {};
  private rejectDone: (err: unknown) => void = () => {};

  constructor(
    private readonly topic: string,
    private readonly importers: ReadonlyMap<number, ChangelogImporter>,
    private readonly stats: ReadonlyMap<number, RestoreStats>,
    partitions: Iterable<number>,
    /** Told how many bytes of chunks were imported (the worker's backpressure). */
    private readonly onImported: (bytes: number) => void = () => {},
  ) {
    this.unimported = new Set(partitions);
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {});
    if (this.unimported.size === 0) this.resolveDone();
  }

  push(chunk: PendingChunk): void {
    if (this.failure !== null) return;
    this.queue.push(chunk);
    this.queuedBytes += chunk.bytes;
    if (!this.pumping) {
      this.pumping = true;
      setImmediate(this.pump);
    }
  }

  /** Resolves once the queue holds at most IMPORT_BACKLOG_BYTES (at once when it does). */
  async room(): Promise<void> {
    while (this.failure === null && this.queuedBytes > IMPORT_BACKLOG_BYTES)
      await new Promise<void>((wake) => {
        this.space = wake;
      });
  }

  fail(err: unknown): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.space?.();
    this.space = null;
    this.rejectDone(err);
  }

  private readonly pump = (): void => {
    if (this.failure !== null) return;
    let budget = IMPORT_SLICE;
    try {
      while (budget > 0 && this.queue.length > 0) {
        const c = this.queue[0] as PendingChunk;
        budget -= c.packed !== null ? this.importPacked(c, budget) : this.importMessages(c, budget);
        if (!this.finished(c)) continue;
        this.queue.shift();
        this.queuedBytes -= c.bytes;
        this.onImported(c.bytes);
        if (c.last) {
          this.unimported.delete(c.partition);
          if (this.unimported.size === 0) this.resolveDone();
        }
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.queuedBytes <= IMPORT_BACKLOG_BYTES && this.space !== null) {
      const wake = this.space;
      this.space = null;
      wake();
    }
    if (this.queue.length > 0) setImmediate(this.pump);
    else this.pumping = false;
  };

  private finished(c: PendingChunk): boolean {
    return c.packed !== null ? c.next >= c.packed.length : c.next >= (c.messages as KafkaMessage[]).length;
  }

  private importMessages(c: PendingChunk, budget: number): number {
    const messages = c.messages as KafkaMessage[];
    const importer = this.importers.get(c.partition) as ChangelogImporter;
    const r = this.stats.get(c.partition) as RestoreStats;
    const stop = Math.min(messages.length, c.next + budget);
    let i = c.next;
    for (; i < stop; i++) {
      const m = messages[i] as KafkaMessage;
      if (BigInt(m.offset) >= c.end) {
        i = messages.length;
        break;
      }
      const key = m.key?.toString() ?? '';
      const kind = key === META_KEY ? KIND_META : m.value === null ? KIND_TOMBSTONE : KIND_PUT;
      this.importOne(importer, r, c.partition, m.offset, kind, key, m.value, false);
    }
    const done = Math.min(i, stop) - c.next;
    c.next = i;
    return done;
  }

  private importPacked(c: PendingChunk, budget: number): number {
    const importer = this.importers.get(c.partition) as ChangelogImporter;
    const r = this.stats.get(c.partition) as RestoreStats;
    let n = 0;
    c.next = unpackRecords(c.packed as Buffer, c.next, budget, (kind, key, value) => {
      n++;
      this.importOne(importer, r, c.partition, null, kind, key, value, true);
    });
    return n;
  }

  private importOne(
    importer: ChangelogImporter,
    r: RestoreStats,
    partition: number,
    /** null for packed records (the worker does not send offsets): the record's position is named. */
    offset: string | null,
    kind: number,
    key: string,
    value: Buffer | null,
    owned: boolean,
  ): void {
    r.records++;
    try {
      if (kind === KIND_META) importer.meta(value?.toString() ?? '');
      else if (kind === KIND_TOMBSTONE) {
        r.tombstones++;
        importer.delete(key);
      } else importer.put(key, value as Buffer, owned);
    } catch (err) {
      const at = offset ?? `record ${r.records - 1}`;
      throw new ChangelogImportError(
        'ESN_STATE',
        `Cannot restore ${this.topic}/${partition}/${at} (key ${JSON.stringify(key)}): ${(err as Error).message}`,
        { where: `${this.topic}/${partition}/${at}`, cause: err },
      );
    }
  }
}
