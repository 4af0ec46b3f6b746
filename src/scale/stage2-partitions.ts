/**
 * Stage 2's owned partitions: the by-source partitions the group assigned this instance, each with
 * its Detection stage, flow minutes and commit bookkeeping (partition-task.ts). On assignment a
 * partition's state is restored from the changelog (readiness waits for it); every
 * `commitIntervalMs`, after a batch or on a timer while its input is quiet, it is checkpointed: its
 * changed identities go to the changelog *before* the offsets that state corresponds to are
 * committed, so a crash never loses state a committed offset depends on.
 */
import type { KafkaConfig } from 'kafkajs';
import type { FlowAggregator } from '../detect/flows.js';
import type { Health } from '../observability/health.js';
import type { PipelineMetrics } from '../observability/metrics.js';
import type { Detection } from '../pipeline/detection.js';
import type { LogFn } from '../sinks/types.js';
import { restorePartitions } from './changelog-restore.js';
import type { ChangelogWriter } from './changelog-writer.js';
import { PartitionTask } from './partition-task.js';

export interface OwnedPartition {
  task: PartitionTask;
  detection: Detection;
  flows: FlowAggregator | null;
  lastCheckpoint: number;
  /** Late events and forced releases already counted in the metrics. */
  reported: { late: number; forcedReleases: number };
  /** Serialises a partition's batch (observe, deliver, checkpoint) with the idle-checkpoint timer. */
  lock: Promise<void>;
}

export interface OwnedPartitionsOptions {
  /** The config, not a client: the changelog is read in a worker thread. */
  kafkaConfig: KafkaConfig;
  /** The by-source topic (offsets committed) and its changelog. */
  topic: string;
  changelog: ChangelogWriter;
  /** Stage 2's consumer group (restore groups are named after it). */
  group: string;
  commitIntervalMs: number;
  newDetection: () => Detection;
  newFlows: () => FlowAggregator | null;
  /** Commits the partition's offset in stage 2's group. */
  commit: (partition: number, offset: bigint) => Promise<void>;
  metrics: PipelineMetrics;
  health: Health;
  log: LogFn;
  /** Told how many identities each restore brought back. */
  onRestored: (identities: number) => void;
}

/** Runs `fn` after the partition's batch or checkpoint in progress. */
export function withLock<T>(part: OwnedPartition, fn: () => Promise<T>): Promise<T> {
  const run = part.lock.then(fn);
  part.lock = run.then(
    () => {},
    () => {},
  );
  return run;
}

export class OwnedPartitions {
  /** Partition -> its state, once restored. */
  private readonly owned = new Map<number, Promise<OwnedPartition>>();
  /** Partitions whose restore finished (the final checkpoint does not wait for one under way). */
  private readonly restored = new Set<Promise<OwnedPartition>>();
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: OwnedPartitionsOptions) {
    o.health.require('partitions assigned');
    o.health.require('state restored');
  }

  /** The partition's state once restored; undefined when it is not ours (any more). */
  get(partition: number): Promise<OwnedPartition> | undefined {
    return this.owned.get(partition);
  }

  /** Whether `pending` is still the partition's current state (not revoked and assigned again since). */
  current(partition: number, pending: Promise<OwnedPartition>): boolean {
    return this.owned.get(partition) === pending;
  }

  /** A new assignment: forgets revoked partitions, restores fresh ones. */
  assign(assigned: ReadonlySet<number>): void {
    const { o } = this;
    for (const p of [...this.owned.keys()]) {
      if (!assigned.has(p)) {
        this.owned.delete(p);
        o.metrics.stateKeys.remove({ partition: String(p) });
        // A revoked partition's lag is its new owner's to report.
        o.metrics.consumerLag.remove({ topic: o.topic, partition: String(p) });
      }
    }
    const fresh = [...assigned].filter((p) => !this.owned.has(p)).sort((a, b) => a - b);
    o.metrics.assignedPartitions.set({ topic: o.topic }, assigned.size);
    o.health.set('partitions assigned', true);
    o.log('info', 'Partitions assigned.', {
      topic: o.topic,
      partitions: [...assigned].sort((a, b) => a - b).join(','),
      restoring: fresh.join(','),
    });
    this.restore(fresh);
    if (fresh.length === 0 && assigned.size === this.owned.size) o.health.set('state restored', true);
  }

  private newPartition(p: number): OwnedPartition {
    const detection = this.o.newDetection();
    const flows = this.o.newFlows();
    return {
      task: new PartitionTask(p, detection, flows),
      detection,
      flows,
      lastCheckpoint: 0,
      reported: { late: 0, forcedReleases: 0 },
      lock: Promise.resolve(),
    };
  }

  private restore(partitions: number[]): void {
    if (partitions.length === 0) return;
    const { o } = this;
    o.health.set('state restored', false);
    const started = process.hrtime.bigint();
    // Right after the topics were created, metadata may not name a leader yet: retry a few times,
    // each time into fresh state (a failed attempt may have imported part of a partition).
    const attempt = async (): Promise<{ parts: Map<number, OwnedPartition>; records: number }> => {
      for (let n = 1; ; n++) {
        const parts = new Map(partitions.map((p) => [p, this.newPartition(p)]));
        try {
          const stats = await restorePartitions(
            o.kafkaConfig,
            o.changelog.topic,
            partitions,
            o.group,
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
        keys += part.detection.identityCount();
        o.metrics.stateKeys.set({ partition: String(p) }, part.detection.stateSize());
        part.lastCheckpoint = Date.now();
      }
      o.onRestored(keys);
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
    for (const p of partitions) {
      const pending = restored.then((m) => m.get(p) as OwnedPartition);
      this.owned.set(p, pending);
      pending.then(
        () => this.restored.add(pending),
        () => {},
      );
    }
    restored.then(
      () => {
        // Ready only when the latest assignment's restores are all done.
        Promise.all(this.owned.values()).then(
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
  }

  /** Whether the partition is due a checkpoint (and still ours). */
  due(partition: number, pending: Promise<OwnedPartition>, part: OwnedPartition): boolean {
    return this.current(partition, pending) && Date.now() - part.lastCheckpoint >= this.o.commitIntervalMs;
  }

  /** Writes the partition's changed state and meta to the changelog, then commits what it covers. */
  async checkpoint(partition: number, part: OwnedPartition): Promise<void> {
    const { o } = this;
    const offset = part.task.committable();
    const { changes, meta } = part.task.checkpoint();
    const written = await o.changelog.write(partition, changes, meta);
    let tombstones = 0;
    for (const v of changes.values()) if (v === null) tombstones++;
    o.metrics.checkpointRecords.inc({ kind: 'update' }, written - tombstones);
    if (tombstones > 0) o.metrics.checkpointRecords.inc({ kind: 'tombstone' }, tombstones);
    part.lastCheckpoint = Date.now();
    if (offset !== null) await o.commit(partition, offset);
  }

  /**
   * A partition whose input went quiet still checkpoints and commits what became committable since
   * its last batch (otherwise its committed offset would stay where its last batch found it, and a
   * takeover would replay far more than the changelog needs).
   */
  startIdleCheckpoints(): void {
    this.idleTimer = setInterval(() => {
      for (const [p, pending] of this.owned) {
        pending
          .then((part) =>
            this.due(p, pending, part) ? withLock(part, () => this.checkpoint(p, part)) : undefined,
          )
          .catch((err: unknown) =>
            this.o.log('warn', 'Idle checkpoint failed; retried at the next interval.', {
              partition: p,
              error: String(err),
            }),
          );
      }
    }, this.o.commitIntervalMs);
    this.idleTimer.unref();
  }

  /**
   * At shutdown, while still a member of the group (a commit needs one): after each partition's
   * batch in flight, checkpoints and commits what is complete. A partition whose restore is still
   * under way has nothing new: it is not waited for.
   */
  async finalCheckpoints(): Promise<void> {
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    for (const [p, pending] of this.owned) {
      if (!this.restored.has(pending)) continue;
      const part = await pending;
      await withLock(part, () => this.checkpoint(p, part)).catch((err: unknown) =>
        this.o.log('warn', 'Final checkpoint failed.', { partition: p, error: String(err) }),
      );
    }
  }
}
