/**
 * The topics scale-out needs besides the input: the internal by-source topic (normalised events
 * re-keyed by source identity, like a Kafka Streams repartition topic) and the changelog of
 * detector state (compacted, co-partitioned with the by-source topic). Created by the pipeline
 * with the admin client when missing; an existing topic with another partition count is an error,
 * because changing it would move keys away from their state.
 */
import type { Admin, ITopicConfig } from 'kafkajs';
import { SentinelError } from '../errors.js';

export interface ScaleTopics {
  /** Normalised events keyed by source identity. */
  bySource: string;
  /** Detector state per source identity, compacted; partition p holds the state of by-source partition p. */
  changelog: string;
  /** Per-window gateway and sidecar-to-gateway leg counts from every stage-1 instance (one partition). */
  heartbeat: string;
  partitions: number;
  replicationFactor: number;
}

export function scaleTopicNames(prefix: string): Pick<ScaleTopics, 'bySource' | 'changelog' | 'heartbeat'> {
  return {
    bySource: `${prefix}-events-by-source`,
    changelog: `${prefix}-state-changelog`,
    heartbeat: `${prefix}-gateway-heartbeat`,
  };
}

export async function ensureScaleTopics(admin: Admin, topics: ScaleTopics): Promise<void> {
  const wanted: ITopicConfig[] = [
    {
      topic: topics.bySource,
      numPartitions: topics.partitions,
      replicationFactor: topics.replicationFactor,
      // Events are reprocessed only after a crash, from the last commit: a day is plenty.
      configEntries: [{ name: 'retention.ms', value: String(24 * 3_600_000) }],
    },
    {
      topic: topics.changelog,
      numPartitions: topics.partitions,
      replicationFactor: topics.replicationFactor,
      configEntries: [
        { name: 'cleanup.policy', value: 'compact' },
        // Compact often: restore time grows with superseded versions still in the log.
        { name: 'segment.ms', value: String(600_000) },
        { name: 'min.cleanable.dirty.ratio', value: '0.1' },
        { name: 'delete.retention.ms', value: String(3_600_000) },
      ],
    },
    {
      topic: topics.heartbeat,
      numPartitions: 1,
      replicationFactor: topics.replicationFactor,
      // Short segments, so the hour of retention is what an evaluator taking over re-reads at most.
      configEntries: [
        { name: 'retention.ms', value: String(3_600_000) },
        { name: 'segment.ms', value: String(600_000) },
      ],
    },
  ];
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t.topic));
  if (missing.length > 0) {
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    } catch (err) {
      // Another instance may have created it at the same time.
      if (!String((err as Error).message).includes('already exists')) {
        throw new SentinelError(
          'ESN_SOURCE',
          `Cannot create topics ${missing.map((t) => t.topic).join(', ')}: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
  }
  const meta = await admin.fetchTopicMetadata({ topics: [topics.bySource, topics.changelog] });
  for (const t of meta.topics) {
    if (t.partitions.length !== topics.partitions) {
      throw new SentinelError(
        'ESN_CONFIG',
        `Topic ${t.name} has ${t.partitions.length} partitions but scale.partitions is ${topics.partitions}: the by-source and changelog topics must have exactly scale.partitions partitions (keys would move away from their state).`,
        { where: 'scale.partitions' },
      );
    }
  }
}
