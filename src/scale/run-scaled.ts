/**
 * One instance of a scaled pipeline: two sub-topologies, the way Kafka Streams runs a
 * repartitioned topology, each its own consumer group, plus the mesh-wide gateway-silence evaluator:
 *
 *   input topic (keyed by node, or not) --stage 1 (stage1.ts): Ingest, re-key--> <prefix>-events-by-source
 *   <prefix>-events-by-source --stage 2 (stage2.ts): Detection per partition--> sinks
 *                              \--checkpoint (stage2-partitions.ts)--> <prefix>-state-changelog
 *   stage 1's leg counts --> <prefix>-gateway-heartbeat --evaluator (gateway-heartbeat.ts)--> sinks
 *
 * This file is the lifecycle: clients and topics, starting the parts, and shutting them down in
 * order (stage 1 stops reading; stage 2 finishes its batches, checkpoints, commits and leaves).
 */
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { AlertStageOptions } from '../alerts/stage.js';
import { resolveKafkaConfig } from '../config/connections.js';
import type { ScaleConfig } from '../config/scale.js';
import type { DeadLetter } from '../dead-letter.js';
import type { FlowAggregator } from '../detect/flows.js';
import { SentinelError } from '../errors.js';
import type { NormalizerConfig } from '../identity/normalizer.js';
import type { Health } from '../observability/health.js';
import type { PipelineMetrics } from '../observability/metrics.js';
import type { Telemetry } from '../observability/telemetry.js';
import type { DecoderOptions } from '../parse/decoder.js';
import { type DeliverOptions, deliverToAll } from '../pipeline/deliver.js';
import type { Detection } from '../pipeline/detection.js';
import type { LogFn, Sink } from '../sinks/types.js';
import type { KafkaSourceConfig } from '../sources/config.js';
import { KafkaSource } from '../sources/kafka.js';
import { BySourceRecords } from './by-source-records.js';
import { prestartChangelogReader } from './changelog-restore.js';
import { ChangelogWriter } from './changelog-writer.js';
import type { GatewayEvaluatorOptions } from './gateway-evaluator.js';
import { HeartbeatPublisher, startGatewayEvaluator } from './gateway-heartbeat.js';
import { InputEnds } from './input-ends.js';
import { Rekeyer } from './rekey.js';
import { runStage1 } from './stage1.js';
import { startStage2 } from './stage2.js';
import { OwnedPartitions } from './stage2-partitions.js';
import { ensureScaleTopics, type ScaleTopics, scaleTopicNames } from './topics.js';

export interface ScaledRunOptions {
  readonly name: string;
  readonly input: KafkaSourceConfig;
  readonly scale: ScaleConfig;
  readonly decoder: DecoderOptions;
  readonly mesh: NormalizerConfig;
  /** A by-source partition's Detection stage (bootstrap.ts: `partitionDetection` of the config's). */
  readonly newDetection: () => Detection;
  readonly newFlows: () => FlowAggregator | null;
  readonly sinks: readonly Sink[];
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly shutdown: AbortSignal;
  readonly stop: AbortSignal;
  readonly log: LogFn;
  readonly metrics: PipelineMetrics;
  readonly health: Health;
  /** Stores dead letters (unreadable lines and records, late events). */
  readonly deadLetters: (letters: readonly DeadLetter[]) => Promise<void>;
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
  const detectGroup = `${o.input.groupId}-by-source`;
  // Both stages count, log and dead-letter into the same places.
  const reporting = { telemetry: o.telemetry, metrics: o.metrics, log: o.log };

  const stage2 = await startStage2({
    kafka,
    topic: topics.bySource,
    group: detectGroup,
    sessionTimeoutMs: o.input.sessionTimeoutMs,
    maxBytesPerPartition: o.input.maxBytesPerPartition,
    partitions: o.scale.partitions,
    commitIntervalMs: o.scale.commitIntervalMs,
    owned: (commit) =>
      new OwnedPartitions({
        kafkaConfig,
        topic: topics.bySource,
        changelog,
        group: detectGroup,
        commitIntervalMs: o.scale.commitIntervalMs,
        newDetection: o.newDetection,
        newFlows: o.newFlows,
        commit,
        metrics: o.metrics,
        health: o.health,
        log: o.log,
        onRestored: (identities) => {
          summary.restoredKeys += identities;
        },
      }),
    inputEnds,
    delivered: { sinks: o.sinks, delivery, telemetry: o.telemetry, deadLetters: o.deadLetters },
    ...reporting,
    health: o.health,
    onDelivered: (alerts, flows) => {
      summary.alerts += alerts;
      summary.flows += flows;
    },
  });

  const gs = o.gatewaySilence;
  const rekeyer = new Rekeyer(
    o.decoder,
    o.mesh,
    gs?.evaluator.windowMs,
    o.scale.partitionBy,
    Date.now,
    o.latenessMs,
  );
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
    gs === null || o.shutdown.aborted
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

  try {
    // Stopped before it started: the input's consumer is not started at all (closing one that is
    // still joining its group makes kafkajs restart it, and the process would not exit).
    if (!o.shutdown.aborted)
      await runStage1({
        source: new KafkaSource(o.input),
        rekeyer,
        bySourceRecords: new BySourceRecords(topics.bySource, topics.partitions),
        producer,
        topic: topics.bySource,
        shutdown: o.shutdown,
        ...reporting,
        deadLetters: o.deadLetters,
        onRead: (lines, events) => {
          summary.lines += lines;
          summary.events += events;
        },
      });
  } catch (err) {
    o.health.fail(String(err));
    throw err instanceof SentinelError
      ? err
      : new SentinelError('ESN_SOURCE', `Stage 1 failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await stage2.stop();
    await publisher?.stop();
    await evaluator?.stop();
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
  return summary;
}
