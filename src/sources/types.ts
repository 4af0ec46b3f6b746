/**
 * Sources read raw input (one string per file line or Kafka message) in batches. Acks flow
 * backwards: a batch's `ack` is called only after every sink accepted what it produced, and that is
 * when a Kafka source commits its offsets.
 */
export interface LineBatch {
  /** `file:/path/to/x.log`, `stdin`, or `kafka:topic`. */
  readonly source: string;
  readonly lines: readonly string[];
  /** Where `lines[i]` came from: a 1-based line number, or `partition/offset`. */
  position(i: number): string;
  /**
   * Everything this batch produced was delivered: commit (Kafka) or nothing (files). Called in the
   * order the batches of one `stream` were yielded, but possibly later: the run loop holds a batch's ack until the
   * flow-summary minutes it contributed to have closed (so a crash never loses half a minute), and
   * keeps pulling batches meanwhile. So a source must not wait for `ack` before yielding the next
   * batch (kafkajs: commit with `consumer.commitOffsets`, not by blocking in `eachBatch`).
   */
  ack(): Promise<void>;
  /**
   * Kafka: the batch ended at its partition's high watermark when fetched (nothing more was there to
   * read). Undefined for sources without the notion. Scaled mode tells stage 2 that such a stream
   * holds nothing back (by-source-records.ts).
   */
  readonly caughtUp?: boolean;
  /** Kafka: messages left in the batch's partition when it was fetched (the consumer lag metric). */
  readonly lag?: PartitionLag;
  /**
   * Kafka: the input partition (`kafka:topic/partition`) whose lines these are, in order. Event time
   * and acks are kept per stream (watermarks.ts); sources without one are a single ordered stream.
   */
  readonly stream?: string;
  /**
   * Kafka: the next offset to read in `stream` after this batch. Scaled mode tells stage 2, which
   * compares it with the partition's end offset to see a reader that is gone (watermarks.ts).
   */
  readonly readTo?: number;
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly messages: number;
}

export interface Source {
  readonly name: string;
  /** Yields batches until the input ends (files) or `signal` aborts (Kafka, stdin). */
  batches(signal: AbortSignal): AsyncIterable<LineBatch>;
  /**
   * Kafka: input partitions assigned with lines to read of which no batch was handed over yet (a
   * fetch can serve some partitions long before others); event time waits for them.
   */
  unreadStreams?(): ReadonlySet<string>;
  /** Kafka: input partitions assigned with nothing to read, none handed over since: caught up. */
  emptyStreams?(): ReadonlySet<string>;
  /**
   * Kafka: batches of one stream the run loop may hold, read ahead of the slowest stream's event
   * time, before it pauses the stream (`setPaused`); 0 or undefined: streams are never paused.
   */
  readonly maxBatchesAhead?: number;
  /**
   * Kafka: stop (or restart) fetching `stream`; batches of it fetched but not yet yielded are
   * dropped and fetched again on resume. Streams not this source's are ignored.
   */
  setPaused?(stream: string, paused: boolean): void;
  close(): Promise<void>;
}
