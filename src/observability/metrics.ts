/**
 * The pipeline's Prometheus metrics, on a registry of its own (not prom-client's global one) so
 * that tests and several pipelines in one process do not share counters. Counters are bumped once
 * per batch with the batch's totals, never per event: prom-client's label lookup costs more than
 * decoding a line.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PartitionLag } from '../sources/types.js';
import type { ComponentCounts, Telemetry } from './telemetry.js';

const PREFIX = 'egress_sentinel_';

export class PipelineMetrics {
  readonly registry: Registry;
  /** Raw lines read from a source. */
  readonly linesReceived: Counter<'source'>;
  /** Normalised egress events that reached detection. */
  readonly eventsReceived: Counter<'source'>;
  /** Scaled mode: events stage 1 re-keyed onto the by-source topic (stage 2 counts them in eventsReceived). */
  readonly rekeyedEvents: Counter<never>;
  /** Lines that are not access logs (Envoy/agent messages, blanks), by reason. */
  readonly linesSkipped: Counter<'reason'>;
  /** Lines that should have been access logs but could not be read. */
  readonly deadLetters: Counter<'source'>;
  /** Alerts produced, by rule id. */
  readonly alerts: Counter<'rule'>;
  /** Messages between the consumer's position and the partition's high watermark. */
  readonly consumerLag: Gauge<'topic' | 'partition'>;
  /** Keys (source identities) held in detector state, per owned partition. */
  readonly stateKeys: Gauge<'partition'>;
  /** Time to restore one partition's state from its changelog. */
  readonly restoreSeconds: Histogram<never>;
  /** Keys read from changelogs while restoring. */
  readonly restoredKeys: Counter<never>;
  /** State records written to the changelog (updates and tombstones). */
  readonly checkpointRecords: Counter<'kind'>;
  /** Sink writes retried after a transient failure. */
  readonly sinkRetries: Counter<'sink'>;
  /** Sink writes that gave up (the batch is retried, not committed). */
  readonly sinkFailures: Counter<'sink'>;
  /** Wall time to process one input batch, by stage. */
  readonly batchSeconds: Histogram<'stage'>;
  /** Partitions this instance owns, by topic. */
  readonly assignedPartitions: Gauge<'topic'>;
  /** Event time: events held for time order (while an input partition is behind), by detection partition. */
  readonly bufferedEvents: Gauge<'partition'>;
  /** Plain run: input lines read but not committed yet (a restart reads them again). */
  readonly uncommittedLines: Gauge<never>;
  /** Plain run: input partitions paused because they ran ahead of the slowest one's event time. */
  readonly pausedPartitions: Gauge<never>;
  /** Event time: the detectors' watermark (Unix seconds), by detection partition. */
  readonly watermarkSeconds: Gauge<'partition'>;
  /** Event time: input partitions left out of the watermark because they were idle too long. */
  readonly idleInputs: Gauge<'partition'>;
  /** Events behind the watermark by more than the allowed lateness: dead-lettered, not analysed. */
  readonly lateEvents: Counter<never>;
  readonly lateJoined: Counter<never>;
  /** Times the buffer was full and its oldest events were released before the watermark passed them. */
  readonly forcedReleases: Counter<never>;
  /** Standing alerts held for de-duplication (capped by detection.maxStandingAlerts). */
  readonly standingAlerts: Gauge<never>;
  /** Standing alerts closed early because the cap was reached. */
  readonly standingEvicted: Counter<never>;
  /** Findings folded into a flood alert instead of raising their own. */
  readonly alertsFolded: Counter<never>;
  /** Per component (`source:NAME`, `ingest`, `detection`, `sink:NAME`): items in, passed on, dropped, failed, dead-lettered. */
  readonly componentReceived: Counter<'component'>;
  readonly componentSent: Counter<'component'>;
  readonly componentDiscarded: Counter<'component'>;
  readonly componentErrors: Counter<'component'>;
  readonly componentDeadLetters: Counter<'component'>;
  private stageSeen = { standingEvicted: 0, folded: 0 };
  /** Detection state keys evicted (cap reached) and new keys not given state (source at its quota), per table. */
  readonly stateEvicted: Counter<'table'>;
  readonly stateDeferred: Counter<'table'>;
  private readonly stateSeen = new Map<string, { evicted: number; deferred: number }>();
  /** Component counts already exported (`recordComponents` adds the increase). */
  private componentsSeen = new Map<string, ComponentCounts>();

  constructor(options: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    const registry = new Registry();
    if (options.labels) registry.setDefaultLabels(options.labels);
    this.registry = registry;
    const registers = [registry];
    this.linesReceived = new Counter({
      name: `${PREFIX}lines_received_total`,
      help: 'Raw input lines read from a source.',
      labelNames: ['source'],
      registers,
    });
    this.eventsReceived = new Counter({
      name: `${PREFIX}events_received_total`,
      help: 'Normalised egress events that reached detection.',
      labelNames: ['source'],
      registers,
    });
    this.rekeyedEvents = new Counter({
      name: `${PREFIX}rekeyed_events_total`,
      help: 'Scaled mode: normalised egress events stage 1 re-keyed onto the by-source topic.',
      registers,
    });
    this.linesSkipped = new Counter({
      name: `${PREFIX}lines_skipped_total`,
      help: 'Input lines that are not access logs, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.deadLetters = new Counter({
      name: `${PREFIX}dead_letters_total`,
      help: 'Lines that should have been access logs but could not be read.',
      labelNames: ['source'],
      registers,
    });
    this.alerts = new Counter({
      name: `${PREFIX}alerts_total`,
      help: 'Alerts produced, by rule.',
      labelNames: ['rule'],
      registers,
    });
    this.consumerLag = new Gauge({
      name: `${PREFIX}consumer_lag_messages`,
      help: 'Messages between the consumed position and the high watermark, per partition.',
      labelNames: ['topic', 'partition'],
      registers,
    });
    this.stateKeys = new Gauge({
      name: `${PREFIX}state_keys`,
      help: 'Source identities held in detector state, per owned partition.',
      labelNames: ['partition'],
      registers,
    });
    this.restoreSeconds = new Histogram({
      name: `${PREFIX}state_restore_seconds`,
      help: 'Time to restore one partition of detector state from its changelog.',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
    this.restoredKeys = new Counter({
      name: `${PREFIX}state_restored_keys_total`,
      help: 'State keys read from the changelog while restoring.',
      registers,
    });
    this.checkpointRecords = new Counter({
      name: `${PREFIX}state_checkpoint_records_total`,
      help: 'State records written to the changelog (kind: update or tombstone).',
      labelNames: ['kind'],
      registers,
    });
    this.sinkRetries = new Counter({
      name: `${PREFIX}sink_retries_total`,
      help: 'Sink writes retried after a transient failure.',
      labelNames: ['sink'],
      registers,
    });
    this.sinkFailures = new Counter({
      name: `${PREFIX}sink_failures_total`,
      help: 'Sink writes that gave up; the batch is retried, not committed.',
      labelNames: ['sink'],
      registers,
    });
    this.batchSeconds = new Histogram({
      name: `${PREFIX}batch_duration_seconds`,
      help: 'Wall time to process one input batch, by stage.',
      labelNames: ['stage'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.assignedPartitions = new Gauge({
      name: `${PREFIX}assigned_partitions`,
      help: 'Partitions this instance owns, by topic.',
      labelNames: ['topic'],
      registers,
    });
    this.bufferedEvents = new Gauge({
      name: `${PREFIX}event_time_buffered_events`,
      help: 'Events held for event-time order while an input partition is behind (partition: by-source partition, "all" in a plain run).',
      labelNames: ['partition'],
      registers,
    });
    this.uncommittedLines = new Gauge({
      name: `${PREFIX}input_uncommitted_lines`,
      help: 'Plain run: input lines read but not committed yet, held until their events were analysed and written (a restart reads them again).',
      registers,
    });
    this.pausedPartitions = new Gauge({
      name: `${PREFIX}input_paused_partitions`,
      help: "Plain run: input partitions paused because they ran ahead of the slowest partition's event time (source maxBatchesAhead).",
      registers,
    });
    this.watermarkSeconds = new Gauge({
      name: `${PREFIX}event_time_watermark_seconds`,
      help: 'Event time up to which the detectors have seen everything (Unix seconds).',
      labelNames: ['partition'],
      registers,
    });
    this.idleInputs = new Gauge({
      name: `${PREFIX}event_time_idle_inputs`,
      help: 'Input partitions behind but silent longer than detection.idleTimeout: left out of the watermark.',
      labelNames: ['partition'],
      registers,
    });
    this.lateEvents = new Counter({
      name: `${PREFIX}late_events_total`,
      help: 'Events behind the watermark by more than the allowed lateness: dead-lettered, not analysed.',
      registers,
    });
    this.lateJoined = new Counter({
      name: `${PREFIX}late_legs_joined_total`,
      help: "Legs behind the watermark joined to their connection's other leg, still waiting in the connection join: analysed through that leg, not dead-lettered.",
      registers,
    });
    this.forcedReleases = new Counter({
      name: `${PREFIX}event_time_forced_releases_total`,
      help: 'Times detection.maxBufferedEvents was reached and the oldest held events were released early.',
      registers,
    });
    this.standingAlerts = new Gauge({
      name: `${PREFIX}standing_alerts`,
      help: 'Standing alerts held for de-duplication (capped by detection.maxStandingAlerts).',
      registers,
    });
    this.standingEvicted = new Counter({
      name: `${PREFIX}standing_alerts_evicted_total`,
      help: 'Standing alerts closed early because detection.maxStandingAlerts was reached.',
      registers,
    });
    this.alertsFolded = new Counter({
      name: `${PREFIX}alerts_folded_total`,
      help: 'Findings folded into a per-source flood alert instead of raising their own (detection.flood).',
      registers,
    });
    this.stateEvicted = new Counter({
      name: `${PREFIX}state_evicted_total`,
      help: 'Detection state keys evicted (table: identity-host, identity-domain, or a detector): the table was at detection.maxKeys, or the source at its quota.',
      labelNames: ['table'],
      registers,
    });
    this.stateDeferred = new Counter({
      name: `${PREFIX}state_first_sightings_deferred_total`,
      help: 'Destinations a source at detection.maxKeysPerIdentity used for the first time: given state only if seen again (a flood of names used once creates none).',
      labelNames: ['table'],
      registers,
    });
    const component = (name: string, help: string): Counter<'component'> =>
      new Counter({ name: `${PREFIX}component_${name}_total`, help, labelNames: ['component'], registers });
    this.componentReceived = component('received', 'Items a component took in: lines, events, documents.');
    this.componentSent = component(
      'sent',
      'Items a component passed on: lines, egress events, alert records.',
    );
    this.componentDiscarded = component(
      'discarded',
      'Items a component dropped on purpose: lines that are no access log, or not egress.',
    );
    this.componentErrors = component(
      'errors',
      'Failures: unreadable lines, failed sink writes, read errors.',
    );
    this.componentDeadLetters = component(
      'dead_letters',
      'Items a component wrote to the dead-letter output.',
    );
    // Process RSS, CPU, event-loop lag and GC: what tells an operator one instance is saturated.
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  }

  /** Records the counters of one decoded batch (call once per batch). */
  countBatch(
    source: string,
    lines: number,
    events: number,
    deadLetters: number,
    skipped: ReadonlyMap<string, number>,
  ): void {
    if (lines > 0) this.linesReceived.inc({ source }, lines);
    if (events > 0) this.eventsReceived.inc({ source }, events);
    if (deadLetters > 0) this.deadLetters.inc({ source }, deadLetters);
    for (const [reason, n] of skipped) if (n > 0) this.linesSkipped.inc({ reason }, n);
  }

  /** Exports the per-component counts (totals: the increase since the last call is added). */
  recordComponents(telemetry: Telemetry): void {
    for (const [id, c] of telemetry.entries()) {
      let seen = this.componentsSeen.get(id);
      if (seen === undefined) {
        seen = { received: 0, sent: 0, discarded: 0, errors: 0, deadLetters: 0 };
        this.componentsSeen.set(id, seen);
      }
      const labels = { component: id };
      if (c.received > seen.received) this.componentReceived.inc(labels, c.received - seen.received);
      if (c.sent > seen.sent) this.componentSent.inc(labels, c.sent - seen.sent);
      if (c.discarded > seen.discarded) this.componentDiscarded.inc(labels, c.discarded - seen.discarded);
      if (c.errors > seen.errors) this.componentErrors.inc(labels, c.errors - seen.errors);
      if (c.deadLetters > seen.deadLetters)
        this.componentDeadLetters.inc(labels, c.deadLetters - seen.deadLetters);
      Object.assign(seen, c);
    }
  }

  /** Records alerts by rule from one batch. */
  countAlerts(alerts: readonly { rule: { id: string } }[]): void {
    if (alerts.length === 0) return;
    const byRule = new Map<string, number>();
    for (const a of alerts) byRule.set(a.rule.id, (byRule.get(a.rule.id) ?? 0) + 1);
    for (const [rule, n] of byRule) this.alerts.inc({ rule }, n);
  }

  /**
   * Where event time stands after a batch (`partition`: by-source partition, or "all"); `reported`
   * holds the engine counters already counted, and is brought up to date.
   */
  setEventTime(
    partition: string,
    engine: {
      readonly buffered: number;
      readonly watermark: number;
      readonly counters: {
        readonly late: number;
        readonly joinedLate?: number;
        readonly forcedReleases: number;
      };
    },
    idleInputs: number,
    reported: { late: number; joinedLate?: number; forcedReleases: number },
  ): void {
    this.bufferedEvents.set({ partition }, engine.buffered);
    if (Number.isFinite(engine.watermark)) this.watermarkSeconds.set({ partition }, engine.watermark / 1000);
    this.idleInputs.set({ partition }, idleInputs);
    const late = engine.counters.late - reported.late;
    if (late > 0) this.lateEvents.inc(late);
    const forced = engine.counters.forcedReleases - reported.forcedReleases;
    if (forced > 0) this.forcedReleases.inc(forced);
    reported.late = engine.counters.late;
    const joinedLate = engine.counters.joinedLate ?? 0;
    if (joinedLate > (reported.joinedLate ?? 0)) this.lateJoined.inc(joinedLate - (reported.joinedLate ?? 0));
    reported.joinedLate = joinedLate;
    reported.forcedReleases = engine.counters.forcedReleases;
  }

  /** The alert stage's size and counters, after a batch (counters are totals: the increase is added). */
  observeAlertStage(stage: {
    readonly standingCount: number;
    readonly counters: { readonly standingEvicted: number; readonly folded: number };
  }): void {
    this.standingAlerts.set(stage.standingCount);
    const c = stage.counters;
    if (c.standingEvicted > this.stageSeen.standingEvicted)
      this.standingEvicted.inc(c.standingEvicted - this.stageSeen.standingEvicted);
    if (c.folded > this.stageSeen.folded) this.alertsFolded.inc(c.folded - this.stageSeen.folded);
    this.stageSeen = { standingEvicted: c.standingEvicted, folded: c.folded };
  }

  /** The state tables' eviction and deferral totals after a batch (the increase is added). */
  observeStateTables(
    tables: readonly {
      readonly name: string;
      readonly evictedTotal: number;
      readonly deferredTotal: number;
    }[],
  ): void {
    for (const t of tables) {
      const seen = this.stateSeen.get(t.name) ?? { evicted: 0, deferred: 0 };
      if (t.evictedTotal > seen.evicted)
        this.stateEvicted.inc({ table: t.name }, t.evictedTotal - seen.evicted);
      if (t.deferredTotal > seen.deferred)
        this.stateDeferred.inc({ table: t.name }, t.deferredTotal - seen.deferred);
      this.stateSeen.set(t.name, { evicted: t.evictedTotal, deferred: t.deferredTotal });
    }
  }

  /** An input batch's partition lag (Kafka sources). */
  setInputLag(lag: PartitionLag | undefined): void {
    if (lag !== undefined)
      this.consumerLag.set({ topic: lag.topic, partition: String(lag.partition) }, lag.messages);
  }

  /** Lag after a batch: high watermark minus the next offset to read. */
  setLag(topic: string, partition: number, highWatermark: string, lastOffset: string): void {
    const lag = Number(BigInt(highWatermark) - BigInt(lastOffset) - 1n);
    this.consumerLag.set({ topic, partition: String(partition) }, Math.max(0, lag));
  }
}
