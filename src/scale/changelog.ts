/**
 * Detector state checkpointed to a compacted topic, keyed by source identity, value = the state
 * that identity exported as bytes (a tombstone when it was evicted). Partition p of the changelog holds the
 * state of partition p of the by-source topic, so an instance restores exactly the partitions it
 * was assigned. One extra record per partition (key META_KEY) holds what is not per identity: the
 * learning clock, the watermark and the input position the state corresponds to.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  AssignerProtocol,
  Kafka,
  type KafkaConfig,
  type KafkaMessage,
  logLevel,
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
 * Fetch sizes of a restore's reader. Small fetches: the first batch arrives sooner and reading and
 * importing overlap more finely (4 x 4 MiB fetches were slower with kafkajs: bigger joins).
 */
export const RESTORE_FETCH = { maxBytes: 4 * 1024 * 1024, maxBytesPerPartition: 1024 * 1024, maxWaitMs: 50 };

/** Fetched records waiting to be imported before the next fetch is held back. */
export const IMPORT_BACKLOG_BYTES = 64 * 1024 * 1024;
/** Records imported between yields to the event loop (so the next fetch's bytes are read meanwhile). */
const IMPORT_SLICE = 512;

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

/**
 * Records of one partition for the importer, in offset order: kafkajs messages (read in this
 * thread) or records packed by the reader worker (see packRecords).
 */
interface PendingChunk {
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

const KIND_PUT = 0;
const KIND_TOMBSTONE = 1;
const KIND_META = 2;
/** kind, key length, value position (from the record's start), value length: u32 each. */
const PACKED_HEADER = 16;

/**
 * A batch's records in one buffer to transfer from the reader worker: per record (starting at a
 * multiple of 8) a PACKED_HEADER, the key (UTF-8), padding, and the value placed so that it ends at
 * a multiple of 8. State values keep their baselines at their end (format 3), so those are aligned
 * for a Float64Array and the importer uses them in place, without a copy.
 */
export function packRecords(
  messages: readonly KafkaMessage[],
  end: bigint,
): { buffer: Buffer; count: number } {
  let size = 0;
  let count = 0;
  for (const m of messages) {
    if (BigInt(m.offset) >= end) break;
    const keyLength = m.key?.length ?? 0;
    const valueLength = m.value?.length ?? 0;
    size += PACKED_HEADER + keyLength + valueLength;
    size += (8 - (size % 8)) % 8;
    count++;
  }
  const buffer = Buffer.from(new ArrayBuffer(size));
  let at = 0;
  for (let i = 0; i < count; i++) {
    const m = messages[i] as KafkaMessage;
    const key = m.key ?? EMPTY;
    const value = m.value;
    const valueLength = value?.length ?? 0;
    const isMeta = key.length === META_KEY_BYTES.length && key.equals(META_KEY_BYTES);
    const kind = isMeta ? KIND_META : value === null ? KIND_TOMBSTONE : KIND_PUT;
    let valueAt = PACKED_HEADER + key.length;
    valueAt += (8 - ((at + valueAt + valueLength) % 8)) % 8;
    buffer.writeUInt32LE(kind, at);
    buffer.writeUInt32LE(key.length, at + 4);
    buffer.writeUInt32LE(valueAt, at + 8);
    buffer.writeUInt32LE(valueLength, at + 12);
    key.copy(buffer, at + PACKED_HEADER);
    if (value !== null) value.copy(buffer, at + valueAt);
    at += valueAt + valueLength;
  }
  return { buffer, count };
}

const EMPTY = Buffer.alloc(0);
const META_KEY_BYTES = Buffer.from(META_KEY, 'utf8');

/**
 * Imports chunks in arrival order, IMPORT_SLICE records at a time between yields to the event loop,
 * so the reader's next fetch is read meanwhile.
 */
class ImportQueue {
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
    const b = c.packed as Buffer;
    const importer = this.importers.get(c.partition) as ChangelogImporter;
    const r = this.stats.get(c.partition) as RestoreStats;
    // A DataView reads the headers with one load each (Buffer.readUInt32LE: four, bounds-checked).
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    let n = 0;
    let at = c.next;
    while (n < budget && at < b.length) {
      const kind = v.getUint32(at, true);
      const keyLength = v.getUint32(at + 4, true);
      const valueAt = at + v.getUint32(at + 8, true);
      const valueEnd = valueAt + v.getUint32(at + 12, true);
      const key = b.toString('utf8', at + PACKED_HEADER, at + PACKED_HEADER + keyLength);
      this.importOne(importer, r, c.partition, null, kind, key, b.subarray(valueAt, valueEnd), true);
      at = valueEnd;
      n++;
    }
    c.next = at;
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

function emptyLast(partition: number): PendingChunk {
  return { partition, messages: [], end: 0n, packed: null, next: 0, bytes: 0, last: true };
}
