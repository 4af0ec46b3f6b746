/**
 * One instance of a scaled pipeline. Two consumer groups, the way Kafka Streams runs a
 * repartitioned topology:
 *
 *   input topic (keyed by node, or not) --stage 1: decode, normalise, re-key--> <prefix>-events-by-source
 *   <prefix>-events-by-source --stage 2: detect, alert, summarise--> sinks
 *                              \--checkpoint--> <prefix>-state-changelog (compacted, co-partitioned)
 *
 * Stage 1 is stateless: it commits its input once the by-source topic acknowledged the events.
 * Stage 2 owns the detector state of the by-source partitions it is assigned: on assignment it
 * restores them from the changelog (readiness waits for it), and every `commitIntervalMs` it
 * writes each partition's changed identities to the changelog *before* committing the offsets
 * that state corresponds to, so a crash never loses state a committed offset depends on.
 */
import {
  type Consumer,
  type EachBatchPayload,
  Kafka,
  logLevel,
  type Message,
  Partitioners,
  type Producer,
} from 'kafkajs';
import type { AlertStageOptions } from '../alerts/stage.js';
import type { Alert } from '../alerts/types.js';
import { resolveKafkaConfig } from '../config/connections.js';
import type { ScaleConfig } from '../config/scale.js';
import type { DeadLetter } from '../dead-letter.js';
import type { FlowAggregator } from '../detect/flows.js';
import { SentinelError } from '../errors.js';
import { cloneEgressEvent, newEgressEvent } from '../identity/event.js';
import type { NormalizerConfig } from '../identity/normalizer.js';
import type { EgressEvent } from '../identity/types.js';
import type { Health } from '../observability/health.js';
import type { PipelineMetrics } from '../observability/metrics.js';
import type { Telemetry } from '../observability/telemetry.js';
import type { DecoderOptions } from '../parse/decoder.js';
import { type DeliverOptions, deliverToAll } from '../pipeline/deliver.js';
import { countRead } from '../pipeline/ingest.js';
import type { LogFn, Sink } from '../sinks/types.js';
import type { KafkaSourceConfig } from '../sources/config.js';
import { KafkaSource } from '../sources/kafka.js';
import { BySourceRecords, MARK_INTERVAL_MS, readProgress, unreadMark } from './by-source-records.js';
import { prestartChangelogReader, restorePartitions } from './changelog-restore.js';
import { ChangelogWriter } from './changelog-writer.js';
import { decodeEventRecord, fillEvent } from './event-codec.js';
import type { GatewayEvaluatorOptions } from './gateway-evaluator.js';
import { HeartbeatPublisher, startGatewayEvaluator } from './gateway-heartbeat.js';
import { InputEnds } from './input-ends.js';
import { type PartitionAnalyzer, PartitionTask } from './partition-task.js';
import { Rekeyer } from './rekey.js';
import { ensureScaleTopics, type ScaleTopics, scaleTopicNames } from './topics.js';

/** Stage-1 batches whose events may be on their way to the broker at once. */
const STAGE1_IN_FLIGHT = 4;

export interface ScaledRunOptions {
  readonly name: string;
  readonly input: KafkaSourceConfig;
  readonly scale: ScaleConfig;
  readonly decoder: DecoderOptions;
  readonly mesh: NormalizerConfig;
  readonly newAnalyzer: () => PartitionAnalyzer;
  readonly newFlows: () => FlowAggregator | null;
  readonly sinks: readonly Sink[];
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly shutdown: AbortSignal;
  readonly stop: AbortSignal;
  readonly log: LogFn;
  readonly metrics: PipelineMetrics;
  readonly health: Health;
  readonly deadLetter: (record: DeadLetter) => Promise<void>;
  /** Per-component counts, as the plain run keeps them (stage 1: source and ingest; stage 2: detection and sinks). */
  readonly telemetry: Telemetry;
  /** `detection.lateness`: how long stage 1 holds a gateway's inner leg for its outer leg (hop-pairing.ts). */
  readonly latenessMs?: number;
  /** The mesh-wide gateway-silence evaluator's settings; null when gateway-silence is disabled. */
  readonly gatewaySilence: { evaluator: GatewayEvaluatorOptions; alerts: AlertStageOptions } | null;
}

export interface ScaledSummary {
  lines: number;
  events: number;
  alerts: number;
  flows: number;
  restoredKeys: number;
}

interface OwnedPartition {
  task: PartitionTask;
  flows: FlowAggregator | null;
  lastCheckpoint: number;
  /** Late events and forced releases already counted in the metrics. */
  reported: { late: number; forcedReleases: number };
  /** Serialises a partition's batch (observe, deliver, checkpoint) with the idle-checkpoint timer. */
  lock: Promise<void>;
}

function withLock<T>(part: OwnedPartition, fn: () => Promise<T>): Promise<T> {
  const run = part.lock.then(fn);
  part.lock = run.then(
    () => {},
    () => {},
  );
  return run;
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

export async function runScaled(o: ScaledRunOptions): Promise<ScaledSummary> {
  const summary: ScaledSummary = { lines: 0, events: 0, alerts: 0, flows: 0, restoredKeys: 0 };
  // Partitions' batches and the mesh-wide evaluator's alerts go to the sinks the same way.
  const delivery: DeliverOptions = {
    retryInitialMs: o.retryInitialMs,
    retryMaxMs: o.retryMaxMs,
    stop: o.stop,
    log: o.log,
    onSinkFailure: (sink) => {
      o.telemetry.of('sink', sink).errors++;
      o.metrics.sinkFailures.inc({ sink });
    },
  };
  const topics: ScaleTopics = {
    ...scaleTopicNames(o.scale.topicPrefix ?? o.name),
    partitions: o.scale.partitions,
    replicationFactor: o.scale.replicationFactor,
  };
  const kafkaConfig = resolveKafkaConfig(o.input.connection, process.env);
  const kafka = new Kafka({ ...kafkaConfig, logLevel: logLevel.WARN });
  // The restore on assignment then finds its reader thread loaded (a failed start: it starts one).
  void prestartChangelogReader(kafkaConfig).catch(() => {});
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureScaleTopics(admin, topics);
  } catch (err) {
    await admin.disconnect();
    throw err;
  }
  // Kept: stage 2 looks up the input partitions' end offsets (input-ends.ts).
  const inputEnds = new InputEnds(admin, o.input.topics, o.log);
  // The Java client's murmur2 partitioner: other Kafka tools agree on where a key lives.
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const changelog = new ChangelogWriter(producer, topics.changelog);
  o.health.require('partitions assigned');
  o.health.require('state restored');

  // ---------------------------------------------------------------- stage 2: detection per partition
  const owned = new Map<number, Promise<OwnedPartition>>();
  const detectGroup = `${o.input.groupId}-by-source`;
  const consumer: Consumer = kafka.consumer({
    groupId: detectGroup,
    sessionTimeout: o.input.sessionTimeoutMs,
    maxBytesPerPartition: o.input.maxBytesPerPartition,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: topics.bySource, fromBeginning: true });

  const restore = (partitions: number[]): void => {
    if (partitions.length === 0) return;
    o.health.set('state restored', false);
    const started = process.hrtime.bigint();
    // Right after the topics were created, metadata may not name a leader yet: retry a few times,
    // each time into fresh state (a failed attempt may have imported part of a partition).
    const attempt = async (): Promise<{ parts: Map<number, OwnedPartition>; records: number }> => {
      for (let n = 1; ; n++) {
        const parts = new Map<number, OwnedPartition>();
        for (const p of partitions) {
          const flows = o.newFlows();
          const task = new PartitionTask(p, o.newAnalyzer(), flows);
          parts.set(p, {
            task,
            flows,
            lastCheckpoint: 0,
            reported: { late: 0, forcedReleases: 0 },
            lock: Promise.resolve(),
          });
        }
        try {
          // The config, not the client: the changelog is read in a worker thread.
          const stats = await restorePartitions(
            kafkaConfig,
            topics.changelog,
            partitions,
            detectGroup,
            (p) => (parts.get(p) as OwnedPartition).task,
          );
          return { parts, records: stats.reduce((sum, r) => sum + r.records, 0) };
        } catch (err) {
          if (n >= 6 || (err as { retriable?: boolean }).retriable === false) throw err;
          o.log('warn', 'Restore failed; retrying.', {
            partitions: partitions.join(','),
            attempt: n,
            error: String(err),
          });
          await new Promise((r) => setTimeout(r, 500 * n));
        }
      }
    };
    const restored = attempt().then(({ parts, records }) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      let keys = 0;
      for (const [p, part] of parts) {
        keys += part.task.analyzer.identityCount();
        o.metrics.stateKeys.set({ partition: String(p) }, part.task.analyzer.stateSize());
        part.lastCheckpoint = Date.now();
      }
      summary.restoredKeys += keys;
      o.metrics.restoreSeconds.observe(seconds);
      o.metrics.restoredKeys.inc(keys);
      o.log('info', 'Restored partition state from the changelog.', {
        partitions: partitions.join(','),
        identities: keys,
        records,
        ms: Math.round(seconds * 1000),
        keys_per_s: seconds > 0 ? Math.round(keys / seconds) : keys,
      });
      return parts;
    });
    for (const p of partitions)
      owned.set(
        p,
        restored.then((m) => m.get(p) as OwnedPartition),
      );
    restored.then(
      () => {
        // Ready only when the latest assignment's restores are all done.
        Promise.all(owned.values()).then(
          () => o.health.set('state restored', true),
          () => {},
        );
      },
      (err: unknown) => {
        o.log('error', 'Could not restore partition state.', {
          partitions: partitions.join(','),
          error: String(err),
        });
        o.health.fail(`restore failed: ${String(err)}`);
      },
    );
  };

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const assigned = new Set(e.payload.memberAssignment[topics.bySource] ?? []);
    for (const p of [...owned.keys()]) {
      if (!assigned.has(p)) {
        owned.delete(p);
        o.metrics.stateKeys.remove({ partition: String(p) });
        // A revoked partition's lag is its new owner's to report.
        o.metrics.consumerLag.remove({ topic: topics.bySource, partition: String(p) });
      }
    }
    const fresh = [...assigned].filter((p) => !owned.has(p)).sort((a, b) => a - b);
    o.metrics.assignedPartitions.set({ topic: topics.bySource }, assigned.size);
    o.health.set('partitions assigned', true);
    o.log('info', 'Partitions assigned.', {
      topic: topics.bySource,
      partitions: [...assigned].sort((a, b) => a - b).join(','),
      restoring: fresh.join(','),
    });
    restore(fresh);
    if (fresh.length === 0 && [...assigned].length === owned.size) o.health.set('state restored', true);
  });
  consumer.on(consumer.events.CRASH, (e) => {
    o.log('error', 'The detection consumer crashed.', {
      error: String(e.payload.error),
      restart: e.payload.restart,
    });
    if (!e.payload.restart) o.health.fail(`detection consumer crashed: ${String(e.payload.error)}`);
  });

  const checkpoint = async (partition: number, part: OwnedPartition): Promise<void> => {
    const offset = part.task.committable();
    const { changes, meta } = part.task.checkpoint();
    const written = await changelog.write(partition, changes, meta);
    let tombstones = 0;
    for (const v of changes.values()) if (v === null) tombstones++;
    o.metrics.checkpointRecords.inc({ kind: 'update' }, written - tombstones);
    if (tombstones > 0) o.metrics.checkpointRecords.inc({ kind: 'tombstone' }, tombstones);
    part.lastCheckpoint = Date.now();
    if (offset !== null)
      await consumer.commitOffsets([{ topic: topics.bySource, partition, offset: offset.toString() }]);
  };

  const event = newEgressEvent();
  // A sink that indexes every raw event gets copies (the decoder fills one reused object).
  const wantsEvents = o.sinks.some((s) => s.wantsEvents === true);
  const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
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
    const { task } = part;
    const alerts: Alert[] = [];
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
        if (progress !== null) task.analyzer.progress(progress);
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
      if (progress !== null) task.analyzer.progress(progress);
    }
    // Before event time moves on: has any input partition taken as caught up grown past its reader?
    // (While all are behind, as in a backlog drain, their ends do not matter: no lookup.)
    if (task.analyzer.needsInputEnds?.() !== false) {
      await inputEnds.after(fetchedAt);
      if (!payload.isRunning() || payload.isStale()) return;
      task.analyzer.inputEnds?.(inputEnds.ends);
    }
    task.endBatch(BigInt(batch.lastOffset()), alerts);
    // Events later than the allowed lateness are not analysed: dead-lettered with the reason.
    const lateLetters = task.analyzer.takeDeadLetters?.() ?? [];
    const late = lateLetters.length;
    for (const d of lateLetters) deadLetters.push(d);
    const drained = part.flows?.drain(false) ?? { flows: [], baselines: [] };
    for (const d of deadLetters) await o.deadLetter(d);
    await deliverToAll(
      o.sinks,
      { alerts, flows: drained.flows, baselines: drained.baselines, events: rawEvents },
      delivery,
    );
    summary.alerts += alerts.length;
    summary.flows += drained.flows.length;
    o.telemetry.detected(events, alerts.length, late);
    o.telemetry.delivered(
      o.sinks,
      alerts.length + drained.flows.length + drained.baselines.length + rawEvents.length,
    );
    o.metrics.recordComponents(o.telemetry);
    o.metrics.countAlerts(alerts);
    o.metrics.eventsReceived.inc({ source: `kafka:${batch.topic}` }, events);
    o.metrics.setLag(batch.topic, batch.partition, batch.highWatermark, batch.lastOffset());
    o.metrics.stateKeys.set({ partition: String(batch.partition) }, task.analyzer.stateSize());
    const eventTime = task.analyzer.eventTime?.();
    if (eventTime !== undefined)
      o.metrics.setEventTime(String(batch.partition), eventTime.engine, eventTime.idleInputs, part.reported);
    if (
      Date.now() - part.lastCheckpoint >= o.scale.commitIntervalMs &&
      owned.get(batch.partition) === pending
    ) {
      await checkpoint(batch.partition, part);
    }
    await payload.heartbeat();
    o.metrics.batchSeconds.observe({ stage: 'detect' }, Number(process.hrtime.bigint() - started) / 1e9);
  };
  // Partitions are independent (own task, own checkpoint): their sink writes overlap. The shared
  // decode target is only used in the synchronous loop, so concurrent batches do not clash.
  const stage2 = consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: Math.min(o.scale.partitions, 8),
    eachBatch,
  });
  // A partition whose input went quiet still checkpoints and commits what became committable since
  // its last batch (otherwise its committed offset would stay where its last batch found it, and a
  // takeover would replay far more than the changelog needs).
  const idleCheckpoints = setInterval(() => {
    for (const [p, pending] of owned) {
      pending
        .then((part) =>
          owned.get(p) === pending && Date.now() - part.lastCheckpoint >= o.scale.commitIntervalMs
            ? withLock(part, () => checkpoint(p, part))
            : undefined,
        )
        .catch((err: unknown) =>
          o.log('warn', 'Idle checkpoint failed; retried at the next interval.', {
            partition: p,
            error: String(err),
          }),
        );
    }
  }, o.scale.commitIntervalMs);
  idleCheckpoints.unref();

  // ---------------------------------------------------------------- stage 1: decode, normalise, re-key
  const source = new KafkaSource(o.input);
  const gs = o.gatewaySilence;
  const rekeyer = new Rekeyer(
    o.decoder,
    o.mesh,
    gs?.evaluator.windowMs,
    o.scale.partitionBy,
    Date.now,
    o.latenessMs,
  );
  const bySourceRecords = new BySourceRecords(topics.bySource, topics.partitions);
  // Mesh-wide gateway silence: every instance publishes its stage-1 leg counts; one evaluates them.
  const publisher =
    gs === null
      ? null
      : new HeartbeatPublisher({
          producer,
          topic: topics.heartbeat,
          windowMs: gs.evaluator.windowMs,
          intervalMs: o.scale.commitIntervalMs,
          take: () => rekeyer.takeGatewayTally(),
          log: o.log,
        });
  const evaluator =
    gs === null
      ? null
      : await startGatewayEvaluator({
          kafka,
          topic: topics.heartbeat,
          groupId: `${o.input.groupId}-gateway-heartbeat`,
          sessionTimeoutMs: o.input.sessionTimeoutMs,
          evaluator: gs.evaluator,
          alerts: gs.alerts,
          rebuildMs: Math.max(30 * 60_000, 15 * gs.evaluator.windowMs),
          deliver: async (alerts) => {
            await deliverToAll(o.sinks, { alerts, flows: [], baselines: [], events: [] }, delivery);
            summary.alerts += alerts.length;
            o.telemetry.detected(0, alerts.length, 0);
            o.telemetry.delivered(o.sinks, alerts.length);
            o.metrics.countAlerts(alerts);
          },
          log: o.log,
        });
  // Input partitions this instance was assigned but has not read yet: every by-source partition
  // waits for them (their first lines may be minutes of event time behind what others sent).
  let marksFailing = false;
  const unreadMarks = setInterval(() => {
    const messages: Message[] = [];
    for (const stream of source.unreadStreams())
      messages.push(...bySourceRecords.records([], unreadMark(stream)));
    // Assigned with nothing to read: caught up (sent once per partition, when the flag changes).
    for (const stream of source.emptyStreams()) {
      const readTo = source.emptyStreamPosition(stream);
      messages.push(...bySourceRecords.records([], { ...unreadMark(stream), caughtUp: true, readTo }));
    }
    // Read positions of caught-up partitions not told yet (marks go with batches at most every interval).
    messages.push(...bySourceRecords.due());
    // Inner legs held for an outer leg their quiet input partition did not deliver (hop-pairing.ts).
    const released = rekeyer.releaseHeld();
    if (released.messages.length > 0) messages.push(...bySourceRecords.records(released.messages));
    if (messages.length === 0) return;
    producer.send({ topic: topics.bySource, acks: -1, messages }).then(
      () => {
        marksFailing = false;
        for (const g of released.gates) g.sent();
      },
      (err: unknown) => {
        // Sent again at the next interval; said once per failing spell.
        if (!marksFailing)
          o.log('warn', 'Could not send progress marks for unread input partitions; retrying.', {
            topic: topics.bySource,
            error: String(err),
          });
        marksFailing = true;
      },
    );
  }, MARK_INTERVAL_MS);
  unreadMarks.unref();
  // Batches are pipelined: while one batch's events travel to the broker (acks=all), the next is
  // decoded. The source commits each input partition in order, whatever order the acks come in.
  const inFlight = new Set<Promise<void>>();
  // Acks of batches that left an inner leg held (hop-pairing.ts): each waits for its legs to be sent.
  const heldAcks = new Set<Promise<void>>();
  let sendFailure: unknown = null;
  const stage1 = (async () => {
    for await (const batch of source.batches(o.shutdown)) {
      if (sendFailure !== null) throw sendFailure;
      const started = process.hrtime.bigint();
      const out = rekeyer.rekey(batch.lines, batch.source, (i) => batch.position(i));
      const read = rekeyer.progress;
      const progress =
        read === null ? null : { ...read, caughtUp: batch.caughtUp === true, readTo: batch.readTo };
      // Assigned input partitions not read yet go first, in the same send: a by-source partition must
      // hear of them before this batch's events (the timer alone comes too late at start-up).
      const records: Message[] = [];
      for (const stream of source.unreadStreams())
        if (stream !== batch.stream) records.push(...bySourceRecords.records([], unreadMark(stream)));
      records.push(...bySourceRecords.records(out.messages, progress));
      const delivery = (async () => {
        if (records.length > 0) await producer.send({ topic: topics.bySource, acks: -1, messages: records });
        for (const g of out.gates) g.sent();
        if (progress !== null) bySourceRecords.delivered(progress);
        for (const d of out.deadLetters) await o.deadLetter(d);
        countRead(o.telemetry, source.name, out);
        o.metrics.recordComponents(o.telemetry);
        o.metrics.countBatch(batch.source, out.lines, 0, out.deadLetters.length, out.skipped);
        o.metrics.setInputLag(batch.lag);
        o.metrics.rekeyedEvents.inc(out.events);
        summary.lines += out.lines;
        summary.events += out.events;
        const held = out.held;
        if (held === null) await batch.ack();
        else {
          // Not before its held legs are on the broker: the committed offset never passes one.
          const ack = held.released.then(() => batch.ack());
          heldAcks.add(ack);
          ack.then(
            () => heldAcks.delete(ack),
            (err: unknown) => {
              sendFailure ??= err;
              heldAcks.delete(ack);
            },
          );
        }
        o.metrics.batchSeconds.observe({ stage: 'rekey' }, Number(process.hrtime.bigint() - started) / 1e9);
      })();
      inFlight.add(delivery);
      delivery.then(
        () => inFlight.delete(delivery),
        (err: unknown) => {
          sendFailure ??= err;
          inFlight.delete(delivery);
        },
      );
      while (inFlight.size >= STAGE1_IN_FLIGHT) await Promise.race(inFlight).catch(() => {});
    }
    await Promise.allSettled([...inFlight]);
    if (sendFailure !== null) throw sendFailure;
    // Inner legs still held go on unpaired, and the batches that held them are acked.
    const rest = rekeyer.releaseHeld(true);
    if (rest.messages.length > 0) {
      await producer.send({
        topic: topics.bySource,
        acks: -1,
        messages: bySourceRecords.records(rest.messages),
      });
      for (const g of rest.gates) g.sent();
    }
    await Promise.allSettled([...heldAcks]);
    if (sendFailure !== null) throw sendFailure;
  })();

  try {
    await Promise.race([
      stage1,
      new Promise<void>((resolve) => {
        if (o.shutdown.aborted) resolve();
        else o.shutdown.addEventListener('abort', () => resolve(), { once: true });
      }),
    ]);
    await stage1;
  } catch (err) {
    o.health.fail(String(err));
    throw err instanceof SentinelError
      ? err
      : new SentinelError('ESN_SOURCE', `Stage 1 failed: ${(err as Error).message}`, { cause: err });
  } finally {
    clearInterval(unreadMarks);
    await source.close().catch(() => {});
    // Finish the batch in flight, then checkpoint and commit what is complete, then leave the
    // group so the partitions move at once (a rolling restart loses no baseline).
    clearInterval(idleCheckpoints);
    await consumer.stop().catch(() => {});
    await stage2.catch(() => {});
    for (const [p, pending] of owned) {
      const part = await pending.catch(() => null);
      if (part !== null)
        await withLock(part, () => checkpoint(p, part)).catch((err: unknown) =>
          o.log('warn', 'Final checkpoint failed.', { partition: p, error: String(err) }),
        );
    }
    await consumer.disconnect().catch(() => {});
    await publisher?.stop();
    await evaluator?.stop();
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
  return summary;
}
