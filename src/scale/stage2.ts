/**
 * Stage 2 of a scaled run: the by-source topic -> one Detection stage per owned partition -> sinks,
 * the way the plain run loop drives its Detection stage (observe, mark, advance, take alerts and
 * late dead letters, deliver to every sink), with partitions consumed concurrently: each has its own
 * stage, checkpoint and commits (stage2-partitions.ts).
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { DeadLetter } from '../dead-letter.js';
import { cloneEgressEvent, newEgressEvent } from '../identity/event.js';
import type { EgressEvent } from '../identity/types.js';
import type { PipelineMetrics } from '../observability/metrics.js';
import type { Telemetry } from '../observability/telemetry.js';
import { type DetectedDelivery, deliverDetected } from '../pipeline/deliver.js';
import type { LogFn } from '../sinks/types.js';
import { readProgress } from './by-source-records.js';
import { decodeEventRecord, fillEvent } from './event-codec.js';
import type { InputEnds } from './input-ends.js';
import { type OwnedPartition, type OwnedPartitions, withLock } from './stage2-partitions.js';

export interface Stage2Options {
  kafka: Kafka;
  topic: string;
  group: string;
  sessionTimeoutMs: number;
  maxBytesPerPartition: number;
  /** By-source partitions (at most 8 are consumed at once). */
  partitions: number;
  commitIntervalMs: number;
  /** Built with `commit` bound to this stage's consumer (`commitTo`). */
  owned: (commit: (partition: number, offset: bigint) => Promise<void>) => OwnedPartitions;
  /** The input partitions' end offsets (a stream caught up on its reader's word may have grown). */
  inputEnds: InputEnds;
  /** Where each batch's output goes (sinks, dead letters, telemetry). */
  delivered: DetectedDelivery;
  telemetry: Telemetry;
  metrics: PipelineMetrics;
  log: LogFn;
  health: { fail(reason: string): void };
  /** Told of each batch's output. */
  onDelivered: (alerts: number, flows: number) => void;
}

export interface Stage2 {
  /**
   * Stops taking batches, finishes the ones in flight, checkpoints and commits what is complete
   * while still a member of the group, then leaves it (the partitions move at once: a rolling
   * restart loses no baseline).
   */
  stop(): Promise<void>;
}

function unreadable(
  topic: string,
  partition: number,
  at: string,
  err: unknown,
  document: string | null,
): DeadLetter {
  return {
    component: 'by-source',
    reason: `Unreadable event at ${topic}/${partition}/${at}: ${(err as Error).message}`,
    origin: `kafka:${topic}/${partition}/${at}`,
    raw: document,
  };
}

export async function startStage2(o: Stage2Options): Promise<Stage2> {
  const consumer: Consumer = o.kafka.consumer({
    groupId: o.group,
    sessionTimeout: o.sessionTimeoutMs,
    maxBytesPerPartition: o.maxBytesPerPartition,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: o.topic, fromBeginning: true });
  const owned = o.owned((partition, offset) =>
    consumer.commitOffsets([{ topic: o.topic, partition, offset: offset.toString() }]),
  );
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    owned.assign(new Set(e.payload.memberAssignment[o.topic] ?? []));
  });
  consumer.on(consumer.events.CRASH, (e) => {
    o.log('error', 'The detection consumer crashed.', {
      error: String(e.payload.error),
      restart: e.payload.restart,
    });
    if (!e.payload.restart) o.health.fail(`detection consumer crashed: ${String(e.payload.error)}`);
  });

  let stopping = false;
  const event = newEgressEvent();
  // A sink that indexes every raw event gets copies (the decoder fills one reused object).
  const wantsEvents = o.delivered.sinks.some((s) => s.wantsEvents === true);
  const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    if (batch.messages.length === 0 || stopping) return;
    const started = process.hrtime.bigint();
    const fetchedAt = Date.now();
    const pending = owned.get(batch.partition);
    if (pending === undefined) return; // not ours any more (a rebalance is under way)
    const part = await pending;
    await withLock(part, () => processBatch(payload, pending, part, started, fetchedAt));
  };
  const processBatch = async (
    payload: EachBatchPayload,
    pending: Promise<OwnedPartition>,
    part: OwnedPartition,
    started: bigint,
    fetchedAt: number,
  ): Promise<void> => {
    const { batch } = payload;
    const { task, detection } = part;
    const deadLetters: DeadLetter[] = [];
    const rawEvents: EgressEvent[] = [];
    let events = 0;
    for (const m of batch.messages) {
      if (!payload.isRunning() || payload.isStale()) return;
      const offset = BigInt(m.offset);
      if (!task.unread(offset)) continue;
      const progress = readProgress(m.headers);
      let rows: unknown[];
      try {
        rows = decodeEventRecord(m.value?.toString() ?? '');
      } catch (err) {
        deadLetters.push(
          unreadable(batch.topic, batch.partition, m.offset, err, m.value?.toString() ?? null),
        );
        if (progress !== null)
          detection.mark(progress.stream, progress.time, progress.caughtUp, progress.readTo);
        continue;
      }
      for (let r = 0; r < rows.length; r++) {
        try {
          fillEvent(rows[r], event);
        } catch (err) {
          deadLetters.push(
            unreadable(batch.topic, batch.partition, `${m.offset}[${r}]`, err, JSON.stringify(rows[r])),
          );
          continue;
        }
        events++;
        task.observe(event, offset);
        if (wantsEvents) rawEvents.push(cloneEgressEvent(event));
      }
      // After the record's events: the mark says how far its input partition is now behind us.
      if (progress !== null)
        detection.mark(progress.stream, progress.time, progress.caughtUp, progress.readTo);
    }
    // Before event time moves on: has any input partition taken as caught up grown past its reader?
    // (While all are behind, as in a backlog drain, their ends do not matter: no lookup.)
    if (detection.needsInputEnds()) {
      await o.inputEnds.after(fetchedAt);
      if (!payload.isRunning() || payload.isStale()) return;
      detection.inputEnds(o.inputEnds.ends);
    }
    detection.advance();
    task.endBatch(BigInt(batch.lastOffset()));
    // Events later than the allowed lateness are not analysed: dead-lettered with the reason.
    const drained = part.flows?.drain(false) ?? { flows: [], baselines: [] };
    o.telemetry.detected(events, 0, 0);
    const { alerts } = await deliverDetected(
      detection,
      { ...drained, events: rawEvents, unreadable: deadLetters },
      o.delivered,
    );
    o.onDelivered(alerts.length, drained.flows.length);
    o.metrics.recordComponents(o.telemetry);
    o.metrics.countAlerts(alerts);
    o.metrics.eventsReceived.inc({ source: `kafka:${batch.topic}` }, events);
    o.metrics.setLag(batch.topic, batch.partition, batch.highWatermark, batch.lastOffset());
    o.metrics.stateKeys.set({ partition: String(batch.partition) }, detection.stateSize());
    o.metrics.setEventTime(String(batch.partition), detection.engine, detection.inputs.idle, part.reported);
    if (owned.due(batch.partition, pending, part)) await owned.checkpoint(batch.partition, part);
    await payload.heartbeat();
    o.metrics.batchSeconds.observe({ stage: 'detect' }, Number(process.hrtime.bigint() - started) / 1e9);
  };
  // Partitions are independent (own stage, own checkpoint): their sink writes overlap. The shared
  // decode target is only used in the synchronous loop, so concurrent batches do not clash.
  const run = consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: Math.min(o.partitions, 8),
    eachBatch,
  });
  owned.startIdleCheckpoints();

  return {
    stop: async () => {
      stopping = true;
      // No more fetches; the batches in flight finish (each partition's lock) before its checkpoint.
      // (Until the group was joined there is nothing to pause, and no partition to checkpoint.)
      await Promise.race([run.catch(() => {}), aborted(o.delivered.delivery.stop)]);
      try {
        consumer.pause([{ topic: o.topic }]);
      } catch {
        // Not running (it crashed, or the grace period ran out before it joined).
      }
      await owned.finalCheckpoints();
      await consumer.stop().catch(() => {});
      await consumer.disconnect().catch(() => {});
    },
  };
}

/** Resolves when `signal` is aborted. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
