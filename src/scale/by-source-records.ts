/**
 * Stage 1's records for the by-source topic: the events of one batch grouped per by-source
 * partition, one record per partition (split at RECORD_BYTES), in the order they were decoded.
 * Kafka and kafkajs cost about as much per record as encoding the event itself (partitioner call,
 * record encoding and CRC on produce; record objects and offsets on fetch), so one record per event
 * cost stage 1 and 2 about a tenth of their CPU. The partition is the one Kafka's default partitioner
 * (murmur2, as in the Java client) gives the event's partition key (namespace or identity,
 * `scale.partitionBy`), so other Kafka tools still agree on where a key lives; records carry no
 * key (they hold several).
 *
 * Progress marks carry event time across the re-keying, as watermarks cross a shuffle in Flink:
 * every record of a batch has a `progress` header saying how far in event time stage 1 has read the
 * batch's input partition, whether that partition is caught up and the next offset stage 1 reads
 * there (`read-to` header), and a partition that got none of the batch's events gets an empty record
 * with the headers when the caught-up flag changed or, while the input partition is behind or its
 * read position moved, at most every MARK_INTERVAL_MS (Flink's default watermark interval; a read
 * position not sent within it is sent by `due`, which the caller runs every interval). Caught-up
 * streams need their read position told: stage 2 compares it with the partition's end offset to see
 * a reader that is gone (watermarks.ts). A quiet input partition adds no records. A by-source partition reads its records in order,
 * so a mark tells it that every event of that input partition up to the mark's time is already
 * behind it. Stage 2 then holds its watermark at the slowest input partition that is still behind
 * (pipeline/detection.ts, `observeMerged`) instead of guessing from its own, sparse, view which streams exist.
 */
import { type IHeaders, type Message, Partitioners, type PartitionMetadata } from 'kafkajs';
import { encodeEventRecord } from './event-codec.js';

/** Below the broker's default 1 MiB message.max.bytes, with room for the record batch around it. */
const RECORD_BYTES = 256 * 1024;
const EMPTY_RECORD = encodeEventRecord([]);
/** Partition keys whose partition is remembered (a murmur2 per event otherwise). */
const CACHED_KEYS = 100_000;
/** Header of every by-source record: `<event time>|<caught-up 1/0>|<input stream>`. */
export const PROGRESS_HEADER = 'progress';
/** With it, when known: the next offset stage 1 reads in that input stream (a separate header: older readers ignore it). */
export const READ_TO_HEADER = 'read-to';
/** Empty progress records to one by-source partition per input partition, at most this often. */
export const MARK_INTERVAL_MS = 200;

/**
 * The mark for an input partition assigned to this instance with lines to read, none read yet: stage 2
 * waits for it (a fetch can serve some partitions minutes of event time before others).
 */
export function unreadMark(stream: string): StreamProgress {
  return { stream, time: Number.NEGATIVE_INFINITY, caughtUp: false };
}

/** How far stage 1 has read one input partition (`kafka:topic/partition`). */
export interface StreamProgress {
  stream: string;
  /** Newest event time read from it (-Infinity: none yet). */
  time: number;
  /** Nothing more was there to read when its batch was fetched. */
  caughtUp: boolean;
  /** Next offset stage 1 reads in it (the batch's last offset + 1); absent: not known. */
  readTo?: number;
}

interface MarksSent {
  at: number[];
  caughtUp: boolean[];
  readTo: number[];
  /** The latest progress whose batch is on the broker (what `due` sends; see `delivered`), and since when. */
  latest: StreamProgress | null;
}

export function progressHeader(p: StreamProgress): string {
  return `${p.time}|${p.caughtUp ? 1 : 0}|${p.stream}`;
}

/** The progress a by-source record carries, or null (none, or not one this version wrote). */
export function readProgress(headers: IHeaders | undefined): StreamProgress | null {
  const raw = headers?.[PROGRESS_HEADER];
  if (raw === undefined) return null;
  const text = (Array.isArray(raw) ? raw[0] : raw)?.toString() ?? '';
  const a = text.indexOf('|');
  const b = text.indexOf('|', a + 1);
  if (a < 0 || b !== a + 2) return null;
  const time = Number(text.slice(0, a));
  const flag = text.charCodeAt(a + 1);
  // -Infinity: an assigned input partition not read yet (`unreadMark`).
  if (Number.isNaN(time) || time === Number.POSITIVE_INFINITY) return null;
  if ((flag !== 48 && flag !== 49) || b + 1 >= text.length) return null;
  const progress: StreamProgress = { stream: text.slice(b + 1), time, caughtUp: flag === 49 };
  const readToRaw = headers?.[READ_TO_HEADER];
  if (readToRaw !== undefined) {
    const readTo = Number((Array.isArray(readToRaw) ? readToRaw[0] : readToRaw)?.toString());
    if (Number.isSafeInteger(readTo) && readTo >= 0) progress.readTo = readTo;
  }
  return progress;
}

export class BySourceRecords {
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly metadata: PartitionMetadata[];
  private readonly cache = new Map<string, number>();
  private readonly marks = new Map<string, MarksSent>();

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

  /**
   * `messages` (key = partition key, value = one encoded event) as one record per partition and
   * size; with `progress`, every record carries it and partitions due a mark get an empty record.
   */
  records(messages: readonly Message[], progress: StreamProgress | null = null, now = Date.now()): Message[] {
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
    if (progress !== null) this.mark(out, progress, now);
    return out;
  }

  /**
   * Empty records for partitions whose last mark of a stream is older than its latest progress and
   * the interval (a caught-up stream's read position is not sent with every batch).
   */
  due(now = Date.now()): Message[] {
    const out: Message[] = [];
    for (const sent of this.marks.values())
      if (sent.latest !== null) this.markRest(out, sent.latest, sent, null, now);
    return out;
  }

  /**
   * The records of the batch that read up to `progress` are on the broker: `due` may tell it to the
   * partitions that did not hear of it (not before: a mark must not overtake the stream's events).
   */
  delivered(progress: StreamProgress): void {
    const sent = this.marks.get(progress.stream);
    if (sent === undefined) return;
    const latest = sent.latest;
    if (latest !== null && (latest.readTo ?? -1) > (progress.readTo ?? -1)) return;
    sent.latest = progress;
  }

  private mark(out: Message[], progress: StreamProgress, now: number): void {
    let sent = this.marks.get(progress.stream);
    if (sent === undefined) {
      sent = {
        at: new Array<number>(this.partitions).fill(Number.NEGATIVE_INFINITY),
        caughtUp: new Array<boolean>(this.partitions).fill(false),
        readTo: new Array<number>(this.partitions).fill(-1),
        latest: null,
      };
      this.marks.set(progress.stream, sent);
    }
    const headers = markHeaders(progress);
    const covered = new Array<boolean>(this.partitions).fill(false);
    for (const m of out) {
      m.headers = headers;
      covered[m.partition as number] = true;
    }
    this.markRest(out, progress, sent, covered, now);
  }

  /** Appends the empty records due (see the module comment) and notes what each partition was told. */
  private markRest(
    out: Message[],
    progress: StreamProgress,
    sent: MarksSent,
    covered: boolean[] | null,
    now: number,
  ): void {
    const readTo = progress.readTo ?? -1;
    let headers: IHeaders | null = null;
    for (let p = 0; p < this.partitions; p++) {
      const told = covered?.[p] === true;
      const untold = readTo > (sent.readTo[p] as number);
      // With a batch: a change of the caught-up flag is told at once; progress (event time while
      // behind, the read position while caught up) every interval, so partitions it sends no events
      // to see it advance. From `due`: a read position the partition was not told yet.
      const moved = covered !== null && !progress.caughtUp ? true : untold;
      const due =
        told ||
        (covered !== null && sent.caughtUp[p] !== progress.caughtUp) ||
        (moved && now - (sent.at[p] as number) >= MARK_INTERVAL_MS);
      if (!due) continue;
      if (!told) {
        headers ??= markHeaders(progress);
        out.push({ partition: p, value: EMPTY_RECORD, headers });
      }
      sent.at[p] = now;
      sent.caughtUp[p] = progress.caughtUp;
      if (readTo > (sent.readTo[p] as number)) sent.readTo[p] = readTo;
    }
  }
}

function markHeaders(progress: StreamProgress): IHeaders {
  const headers: IHeaders = { [PROGRESS_HEADER]: progressHeader(progress) };
  if (progress.readTo !== undefined) headers[READ_TO_HEADER] = String(progress.readTo);
  return headers;
}
