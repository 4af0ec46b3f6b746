/**
 * Kafka consumer-group source (kafkajs `eachBatch`). One kafkajs batch (one topic-partition) becomes
 * one LineBatch. Offsets are committed only when the pipeline acks a batch, in partition order: a
 * later batch acked early waits for the earlier ones. kafkajs auto-commit is off; offsets are
 * resolved when a batch is handed over (so the fetcher moves on) but committed only on ack, so a
 * crash replays everything not yet acked (at-least-once). The handler waits (heartbeating) while the
 * pipeline has not taken the previous batch, which bounds memory and lets kafkajs pause fetching.
 * The run loop pauses a partition that ran ahead of the others' event time (`setPaused`): its
 * batches already fetched are dropped unresolved, so kafkajs fetches them again on resume.
 */
import { type Consumer, type EachBatchPayload, Kafka, logLevel } from 'kafkajs';
import { kafkaBrokers, resolveKafkaConfig, secretProblems } from '../config/connections.js';
import { SentinelError } from '../errors.js';
import { type KafkaSourceConfig, KafkaSourceConfigSchema } from './config.js';
import type { SourceSpec } from './spec.js';
import type { LineBatch, PartitionLag, Source } from './types.js';

interface Pending {
  readonly nextOffset: string;
  done: boolean;
}

/** A batch `eachBatch` hands to the generator, which takes it or drops it (its partition was paused). */
interface Handover {
  readonly batch: KafkaLineBatch;
  readonly key: string;
  readonly entry: Pending;
  state: 'waiting' | 'taken' | 'dropped';
}

class KafkaLineBatch implements LineBatch {
  constructor(
    readonly source: string,
    readonly lines: readonly string[],
    private readonly partition: number,
    private readonly offsets: readonly string[],
    private readonly onAck: () => Promise<void>,
    readonly lag: PartitionLag,
  ) {}
  get caughtUp(): boolean {
    return this.lag.messages === 0;
  }
  get stream(): string {
    return `${this.source}/${this.partition}`;
  }
  get readTo(): number {
    return Number(this.offsets[this.offsets.length - 1]) + 1;
  }
  position(i: number): string {
    return `${this.partition}/${this.offsets[i]}`;
  }
  ack(): Promise<void> {
    return this.onAck();
  }
}

/** How long the generator waits for a batch, while partitions are paused, before yielding an empty one. */
const PAUSED_TICK_MS = 1000;

export class KafkaSource implements Source {
  readonly name: string;
  private readonly kafka: Kafka;
  private consumer: Consumer | null = null;
  /** Batches handed over but not yet acked, per `topic/partition`, in offset order. */
  private readonly pending = new Map<string, Pending[]>();
  private readonly config: KafkaSourceConfig;
  private readonly brokers: readonly string[];
  /** See `unreadStreams`. */
  private readonly unread = new Set<string>();
  /** See `emptyStreams`. */
  private readonly empty = new Set<string>();
  /** See `emptyStreamPosition`. */
  private readonly emptyAt = new Map<string, number>();
  private deliveredSinceJoin = new Set<string>();
  private joins = 0;
  /** Streams (`kafka:topic/partition`) the run loop paused (`setPaused`). */
  private readonly paused = new Set<string>();
  readonly maxBatchesAhead: number;

  /** Brokers, TLS and SASL resolve as for the Kafka sink (config, then the environment, then the defaults). */
  constructor(config: KafkaSourceConfig, env: NodeJS.ProcessEnv = process.env) {
    this.config = config;
    this.maxBatchesAhead = config.maxBatchesAhead;
    this.name = `kafka:${config.topics.join(',')}`;
    this.brokers = kafkaBrokers(config.connection, env);
    this.kafka = new Kafka({ ...resolveKafkaConfig(config.connection, env), logLevel: logLevel.WARN });
  }

  async *batches(signal: AbortSignal): AsyncIterable<LineBatch> {
    const consumer = this.kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: this.config.sessionTimeoutMs,
      maxBytesPerPartition: this.config.maxBytesPerPartition,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      void this.findUnread(e.payload.memberAssignment);
    });
    const queue: Handover[] = [];
    let wake: (() => void) | null = null;
    let taken: (() => void) | null = null;
    let failure: unknown = null;
    const notify = (): void => {
      const w = wake;
      wake = null;
      w?.();
    };
    try {
      await consumer.connect();
      for (const topic of this.config.topics)
        await consumer.subscribe({ topic, fromBeginning: this.config.fromBeginning });
    } catch (err) {
      throw new SentinelError('ESN_SOURCE', `Kafka ${this.brokers.join(',')}: ${(err as Error).message}`, {
        where: this.name,
        cause: err,
      });
    }
    const run = consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async (payload: EachBatchPayload) => {
        const { batch } = payload;
        const source = `kafka:${batch.topic}`;
        // Paused after this fetch went out: not resolved, so it is fetched again on resume.
        if (batch.messages.length === 0 || signal.aborted || this.paused.has(`${source}/${batch.partition}`))
          return;
        const lines: string[] = new Array(batch.messages.length);
        const offsets: string[] = new Array(batch.messages.length);
        for (let i = 0; i < batch.messages.length; i++) {
          const m = batch.messages[i];
          lines[i] = m?.value == null ? '' : m.value.toString('utf8');
          offsets[i] = m?.offset ?? '';
        }
        const last = batch.lastOffset();
        const key = `${batch.topic}/${batch.partition}`;
        const entry: Pending = { nextOffset: (BigInt(last) + 1n).toString(), done: false };
        const ack = (): Promise<void> => this.acked(batch.topic, batch.partition, entry);
        const left = BigInt(batch.highWatermark) - BigInt(last) - 1n;
        const lag = {
          topic: batch.topic,
          partition: batch.partition,
          messages: left > 0n ? Number(left) : 0,
        };
        const handover: Handover = {
          batch: new KafkaLineBatch(source, lines, batch.partition, offsets, ack, lag),
          key,
          entry,
          state: 'waiting',
        };
        queue.push(handover);
        notify();
        // Wait until the pipeline took it, heartbeating so the group keeps us.
        while (handover.state === 'waiting' && !signal.aborted && payload.isRunning() && !payload.isStale()) {
          await new Promise<void>((resolve) => {
            taken = resolve;
            setTimeout(resolve, 1000);
          });
          await payload.heartbeat();
        }
        if (handover.state === 'dropped') return;
        payload.resolveOffset(last);
      },
    });
    run.catch((err: unknown) => {
      failure = err;
      notify();
    });
    const onAbort = (): void => notify();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next !== undefined) {
          const t = taken as (() => void) | null;
          taken = null;
          const { batch } = next;
          next.state = this.paused.has(batch.stream) ? 'dropped' : 'taken';
          t?.();
          if (next.state === 'dropped') continue;
          let list = this.pending.get(next.key);
          if (list === undefined) {
            list = [];
            this.pending.set(next.key, list);
          }
          list.push(next.entry);
          this.unread.delete(batch.stream);
          this.empty.delete(batch.stream);
          this.deliveredSinceJoin.add(batch.stream);
          yield batch;
          continue;
        }
        if (failure !== null)
          throw new SentinelError('ESN_SOURCE', `Kafka consumer failed: ${(failure as Error).message}`, {
            where: this.name,
            cause: failure,
          });
        // While partitions are paused, a quiet second yields an empty batch: the run loop then looks
        // at event time again (a slowest partition gone silent turns idle), else all could stay paused.
        let tick: NodeJS.Timeout | undefined;
        const ticked = await new Promise<boolean>((resolve) => {
          wake = () => resolve(false);
          if (this.paused.size > 0) tick = setTimeout(() => resolve(true), PAUSED_TICK_MS);
        });
        clearTimeout(tick);
        if (ticked && queue.length === 0 && !signal.aborted) yield this.emptyBatch();
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private emptyBatch(): LineBatch {
    return {
      source: `kafka:${this.config.topics[0]}`,
      lines: [],
      position: () => '',
      ack: () => Promise.resolve(),
    };
  }

  /**
   * Stops fetching `stream` (`kafka:topic/partition`) while it is ahead of the slower partitions'
   * event time, or fetches it again. kafkajs keeps a partition's pause across rebalances.
   */
  setPaused(stream: string, paused: boolean): void {
    const cut = stream.lastIndexOf('/');
    const topic = stream.slice('kafka:'.length, cut);
    const partition = Number(stream.slice(cut + 1));
    if (!stream.startsWith('kafka:') || !this.config.topics.includes(topic) || !Number.isInteger(partition))
      return;
    if (paused === this.paused.has(stream) || this.consumer === null) return;
    const partitions = [{ topic, partitions: [partition] }];
    if (paused) {
      this.paused.add(stream);
      this.consumer.pause(partitions);
    } else {
      this.paused.delete(stream);
      this.consumer.resume(partitions);
    }
  }

  /**
   * Input partitions (`kafka:topic/partition`) assigned to this consumer that have lines to read
   * but of which no batch was handed over since the assignment: a fetch can serve some partitions
   * long before others. Scaled mode tells stage 2 to wait for them (by-source-records.ts).
   */
  unreadStreams(): ReadonlySet<string> {
    return this.unread;
  }

  /**
   * Input partitions assigned with nothing to read (found by the same query), none handed over
   * since: caught up from the start, so event time need not wait for them.
   */
  emptyStreams(): ReadonlySet<string> {
    return this.empty;
  }

  /**
   * Where the reader of an empty stream (`emptyStreams`) stands: the partition's end when it was
   * assigned. Scaled mode tells stage 2, which holds for the stream again once the partition grows
   * past it before its reader says more (watermarks.ts).
   */
  emptyStreamPosition(stream: string): number | undefined {
    return this.emptyAt.get(stream);
  }

  /**
   * Which newly assigned partitions have a backlog (committed, or where a new group starts, < end).
   * Until the admin client answers, every assigned partition counts as unread: a first batch can be
   * handed over before the answer, and event time must not run ahead of partitions not heard from.
   */
  private async findUnread(assignment: Record<string, number[]>): Promise<void> {
    const join = ++this.joins;
    this.unread.clear();
    this.empty.clear();
    this.emptyAt.clear();
    const delivered = new Set<string>();
    this.deliveredSinceJoin = delivered;
    const assigned: string[] = [];
    for (const [topic, partitions] of Object.entries(assignment))
      for (const p of partitions) assigned.push(`kafka:${topic}/${p}`);
    for (const s of assigned) this.unread.add(s);
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const found: string[] = [];
      for (const [topic, partitions] of Object.entries(assignment)) {
        const [ends, committed] = await Promise.all([
          admin.fetchTopicOffsets(topic),
          admin.fetchOffsets({ groupId: this.config.groupId, topics: [topic] }),
        ]);
        const at = new Map(committed[0]?.partitions.map((c) => [c.partition, c.offset]) ?? []);
        for (const p of partitions) {
          const end = ends.find((o) => o.partition === p);
          if (end === undefined) continue;
          const c = at.get(p) ?? '-1';
          const start = c === '-1' ? (this.config.fromBeginning ? end.low : end.high) : c;
          if (BigInt(start) < BigInt(end.high)) found.push(`kafka:${topic}/${p}`);
          else this.emptyAt.set(`kafka:${topic}/${p}`, Number(start));
        }
      }
      if (join !== this.joins) return;
      this.unread.clear();
      for (const s of found) if (!delivered.has(s)) this.unread.add(s);
      for (const s of assigned) if (!found.includes(s) && !delivered.has(s)) this.empty.add(s);
    } catch {
      // Best effort: without it, a partition first read late still arrives (as late events).
      if (join === this.joins) this.unread.clear();
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Marks a batch acked and commits the highest offset below which everything is acked. */
  private async acked(topic: string, partition: number, entry: Pending): Promise<void> {
    entry.done = true;
    const list = this.pending.get(`${topic}/${partition}`);
    if (list === undefined) return;
    let commit: string | null = null;
    while (list.length > 0 && (list[0] as Pending).done) commit = (list.shift() as Pending).nextOffset;
    if (commit === null || this.consumer === null) return;
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset: commit }]);
    } catch (err) {
      throw new SentinelError(
        'ESN_SOURCE',
        `committing ${topic}/${partition} offset ${commit} failed: ${(err as Error).message}`,
        {
          where: `kafka:${topic}/${partition}`,
          cause: err,
        },
      );
    }
  }

  async close(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = null;
  }
}

export const kafkaSourceSpec = {
  type: 'kafka',
  config: KafkaSourceConfigSchema,
  example: { type: 'kafka', topics: ['istio-proxy-logs'], connection: { brokers: ['kafka:9092'] } },
  create: (config, env) => new KafkaSource(config, env),
  problems: (config, env) =>
    secretProblems(config.connection.sasl?.password, env, 'connection.sasl.password'),
} satisfies SourceSpec<typeof KafkaSourceConfigSchema>;
