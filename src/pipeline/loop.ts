/**
 * The run loop, the one every entry point uses (`replay`, `run`, `demo`): for each source batch,
 * Ingest reads it (lines -> egress events), Detection observes the events and advances event time,
 * flow summaries see each event; then every sink accepts what the batch produced (`await`ed), its
 * dead letters are stored, and only then is the batch acknowledged (committed). At least once end
 * to end; the deterministic ids of alerts, flows and events make a redelivery overwrite instead of
 * duplicating downstream.
 *
 * A batch's ack is held (acks stay in order per input partition, each partition on its own: a
 * partition ahead must not hold back a slow one's commits) until the detectors have seen its events
 * (they hold events back for lateness and for the slowest partition) and every flow minute it fed
 * has been written, so after a crash the replay from the last commit re-analyses every event whose
 * alerts were not out yet and rebuilds each open minute completely; the rebuilt partial copy of an
 * already-written minute has the same id and is refused as a duplicate. On shutdown the batch in
 * flight is finished and what is complete is committed; open minutes are not written (the restart
 * replays them).
 *
 * Held batches are bounded per input partition, as Kafka Streams bounds its per-partition buffers
 * (`buffered.records.per.partition`): a partition with `maxBatchesAhead` held batches whose events
 * are ahead of the slowest partition's event time is paused (the source stops fetching it) until the
 * slowest catches up. So a restart reads again about one batch per partition plus what lateness and
 * the open flow minute hold, not everything a fast partition fetched while a slow one drained.
 */
import type { Alert } from '../alerts/types.js';
import type { DeadLetter } from '../dead-letter.js';
import { cloneEgressEvent } from '../identity/event.js';
import type { EgressEvent } from '../identity/types.js';
import { Telemetry } from '../observability/telemetry.js';
import type { BaselineSnapshot, FlowSummary, LogFn, Sink } from '../sinks/types.js';
import type { LineBatch, PartitionLag, Source } from '../sources/types.js';
import { type DetectedDelivery, deliverDetected } from './deliver.js';
import type { Detection } from './detection.js';
import { countRead, type Ingest, type IngestStats } from './ingest.js';

/** Sees every egress event: the flow minutes for the sinks, or the report's per-pair summaries. */
export interface FlowStage {
  observe(event: EgressEvent): void;
  /** Closed minutes and baseline snapshots to deliver with the batch (`final`: close all). */
  drain?(final: boolean): { flows: FlowSummary[]; baselines: BaselineSnapshot[] };
  /** Start of the oldest minute not yet written, or +Infinity (a batch's ack waits for it). */
  openSince?(): number;
}

/** What the loop needs of the Ingest stage (tests drive it with synthetic ones). */
export type IngestStage = Pick<Ingest, 'read'> & Partial<Pick<Ingest, 'endOfInput'>>;
/** What the loop needs of the Detection stage. */
export type DetectionStage = Pick<
  Detection,
  | 'observe'
  | 'mark'
  | 'knows'
  | 'advance'
  | 'finish'
  | 'takeAlerts'
  | 'takeDeadLetters'
  | 'watermark'
  | 'counts'
> &
  Partial<Pick<Detection, 'slowestInput' | 'pausedInput'>>;

export interface BatchReport {
  readonly source: string;
  readonly batch: LineBatch;
  readonly ingest: IngestStats;
  readonly alerts: readonly Alert[];
  /** The batch's unreadable and late lines. */
  readonly deadLetters: readonly DeadLetter[];
  readonly lag: PartitionLag | undefined;
  /** Lines read and not acknowledged yet (held; a restart reads them again), over every input partition. */
  readonly unackedLines: number;
  /** Input partitions paused because they ran ahead of the slowest one. */
  readonly pausedStreams: number;
}

export interface RunOptions {
  readonly sources: readonly Source[];
  readonly ingest: IngestStage;
  readonly detection: DetectionStage;
  readonly flows: FlowStage | null;
  readonly sinks: readonly Sink[];
  /** Stores a batch's dead letters (unreadable and late lines); awaited before the batch is acknowledged. */
  readonly deadLetters: (letters: readonly DeadLetter[]) => Promise<void>;
  /** Hold each batch's ack until its events were analysed and its flow minutes written (Kafka). */
  readonly holdAcks: boolean;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Aborted on SIGTERM/SIGINT: finish the batch in flight, commit, stop. */
  readonly shutdown: AbortSignal;
  /** Aborted when the shutdown grace ran out: give up on the batch in flight. */
  readonly stop: AbortSignal;
  readonly log: LogFn;
  /**
   * Event time advances once per this many lines (and at each source's end) rather than once per
   * batch: a file read in small batches (fewer lines alive at once) gives the alerts of big ones.
   */
  readonly advanceEveryLines?: number;
  /**
   * A source that fails while reading: without this the run stops with the error; with it, the
   * error is handed here (with the position of the last line read) and the next source is read.
   */
  readonly onSourceError?: (err: unknown, source: Source, lastPosition: string | undefined) => void;
  /** Per-component counts (the service shares it with the sinks' dead-letter output). */
  readonly telemetry?: Telemetry;
  readonly onSinkFailure?: (sink: string) => void;
  readonly onBatch?: (report: BatchReport) => void;
}

export interface RunSummary {
  batches: number;
  lines: number;
  events: number;
  alerts: number;
  flows: number;
  /** Batches processed but not acknowledged at exit (replayed on restart). */
  unacked: number;
  /** True when input ended (files); false when stopped by a signal. */
  completed: boolean;
  readonly telemetry: Telemetry;
}

const MINUTE = 60_000;

export async function runPipeline(o: RunOptions): Promise<RunSummary> {
  const telemetry = o.telemetry ?? new Telemetry();
  const summary: RunSummary = {
    batches: 0,
    lines: 0,
    events: 0,
    alerts: 0,
    flows: 0,
    unacked: 0,
    completed: false,
    telemetry,
  };
  const { ingest, detection, flows } = o;
  // Listed in the order lines flow: sources, ingest, detection, sinks.
  for (const s of o.sources) telemetry.of('source', s.name);
  telemetry.of('ingest');
  telemetry.of('detection');
  for (const s of o.sinks) telemetry.of('sink', s.name);
  const wantsEvents = o.sinks.some((s) => s.wantsEvents === true);
  /** Batches processed, not acked yet, per input stream, in order. */
  const held = new Map<
    string,
    Array<{ ack: () => Promise<void>; maxTime: number; lastMinute: number; lines: number }>
  >();
  let heldLines = 0;
  /** Input partitions paused because they ran ahead (`pace`). */
  const paused = new Set<string>();
  let events: EgressEvent[] = [];
  let batchMax = Number.NEGATIVE_INFINITY;
  const onEvent = (e: EgressEvent, raw: string): void => {
    flows?.observe(e);
    if (e.time > batchMax) batchMax = e.time;
    if (wantsEvents) events.push(cloneEgressEvent(e));
    detection.observe(e, raw);
  };

  const delivery: DetectedDelivery = {
    sinks: o.sinks,
    delivery: {
      retryInitialMs: o.retryInitialMs,
      retryMaxMs: o.retryMaxMs,
      stop: o.stop,
      log: o.log,
      onSinkFailure: (sink) => {
        telemetry.of('sink', sink).errors++;
        o.onSinkFailure?.(sink);
      },
    },
    telemetry,
    deadLetters: o.deadLetters,
  };
  /** Delivers what detection produced (and the flow minutes closed) to every sink, then the dead letters. */
  const deliver = async (
    final: boolean,
    unreadable: readonly DeadLetter[],
  ): Promise<{ alerts: Alert[]; deadLetters: readonly DeadLetter[] }> => {
    const drained = flows?.drain?.(final) ?? { flows: [], baselines: [] };
    const out = { ...drained, events, unreadable };
    events = [];
    summary.flows += drained.flows.length;
    const { alerts, deadLetters } = await deliverDetected(detection, out, delivery);
    summary.alerts += alerts.length;
    return { alerts, deadLetters };
  };

  /**
   * A failed commit (e.g. the partition was revoked in a rebalance) loses nothing: the batch is
   * redelivered to whoever owns the partition and its ids overwrite. So it is logged, not fatal.
   */
  const ack = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      o.log('warn', 'Acknowledging a batch failed; it will be redelivered.', {
        error: (err as Error).message,
      });
    }
  };

  /** Acks, in order per stream, every held batch the detectors have seen and whose flow minutes are written. */
  const release = async (all: boolean): Promise<void> => {
    const analysedUpTo = all ? Number.POSITIVE_INFINITY : detection.watermark();
    const openSince = all ? Number.POSITIVE_INFINITY : (flows?.openSince?.() ?? Number.POSITIVE_INFINITY);
    for (const list of held.values()) {
      for (;;) {
        const first = list[0];
        if (first === undefined || first.maxTime > analysedUpTo || first.lastMinute >= openSince) break;
        list.shift();
        heldLines -= first.lines;
        await ack(first.ack);
      }
    }
  };
  const heldCount = (): number => {
    let n = 0;
    for (const list of held.values()) n += list.length;
    return n;
  };

  /**
   * Pauses each input partition with `maxBatchesAhead` held batches whose events are ahead of the
   * slowest partition still behind, and resumes it once fewer are: the slowest is never paused, so
   * event time keeps moving. Only batches ahead count: those within the lateness of the slowest
   * are held for it whatever the pace.
   */
  const pace = (source: Source): void => {
    const limit = source.maxBatchesAhead ?? 0;
    if (limit <= 0 || source.setPaused === undefined || detection.slowestInput === undefined) return;
    const slowest = detection.slowestInput();
    for (const [stream, list] of held) {
      let ahead = 0;
      for (let i = list.length - 1; i >= 0 && (list[i] as { maxTime: number }).maxTime > slowest; i--)
        ahead++;
      const pause = ahead >= limit;
      if (pause === paused.has(stream)) continue;
      if (pause) paused.add(stream);
      else paused.delete(stream);
      source.setPaused(stream, pause);
    }
  };

  /** Event time: this batch's partition has been read up to its newest line; then advance. */
  const markInputs = (batch: LineBatch, read: number): void => {
    // A batch without access lines says nothing of its partition's event time: it must not hold
    // the watermark at -Infinity (a partition of proxy logs only would stall every alert).
    if (batch.stream !== undefined && (read > Number.NEGATIVE_INFINITY || detection.knows(batch.stream)))
      detection.mark(batch.stream, read, batch.caughtUp === true);
    // Paused by `pace`: silent by choice, waiting for the slower ones, not idle.
    for (const stream of paused) detection.pausedInput?.(stream);
    // Assigned partitions with a backlog not handed over yet: their events must not arrive late.
    for (const s of o.sources)
      for (const unread of s.unreadStreams?.() ?? [])
        if (!detection.knows(unread)) detection.mark(unread, Number.NEGATIVE_INFINITY, false);
    // Assigned with nothing to read: caught up from the start (until a batch of theirs comes).
    for (const s of o.sources)
      for (const empty of s.emptyStreams?.() ?? [])
        if (detection.knows(empty)) detection.mark(empty, Number.NEGATIVE_INFINITY, true);
  };

  const advanceEvery = o.advanceEveryLines ?? 1;
  for (const source of o.sources) {
    if (o.shutdown.aborted) break;
    let sinceAdvance = 0;
    let lastPosition: string | undefined;
    try {
      for await (const batch of source.batches(o.shutdown)) {
        batchMax = Number.NEGATIVE_INFINITY;
        const stats = ingest.read(batch, onEvent);
        if (batch.lines.length > 0) lastPosition = batch.position(batch.lines.length - 1);
        markInputs(batch, stats.maxTime);
        sinceAdvance += batch.lines.length;
        // An empty batch (a paused Kafka source's tick) advances too: idle partitions are judged then.
        if (sinceAdvance >= advanceEvery || batch.lines.length === 0) {
          sinceAdvance = 0;
          detection.advance();
        }
        countRead(telemetry, source.name, stats);
        telemetry.detected(stats.events, 0, 0);
        const { alerts, deadLetters } = await deliver(false, stats.deadLetters);
        if (batch.lines.length > 0) summary.batches++;
        summary.lines += stats.lines;
        summary.events += stats.events;
        // An empty batch (a paused Kafka source's tick) has nothing to commit.
        if (o.holdAcks && batch.lines.length > 0) {
          const stream = batch.stream ?? batch.source;
          let list = held.get(stream);
          if (list === undefined) {
            list = [];
            held.set(stream, list);
          }
          list.push({
            ack: () => batch.ack(),
            maxTime: batchMax,
            lastMinute: Number.isFinite(batchMax) ? batchMax - (batchMax % MINUTE) : Number.NEGATIVE_INFINITY,
            lines: batch.lines.length,
          });
          heldLines += batch.lines.length;
          await release(false);
        } else {
          await ack(() => batch.ack());
        }
        if (o.holdAcks) pace(source);
        o.onBatch?.({
          source: batch.source,
          batch,
          ingest: stats,
          alerts,
          deadLetters,
          lag: batch.lag,
          unackedLines: heldLines,
          pausedStreams: paused.size,
        });
        if (o.shutdown.aborted) break;
      }
    } catch (err) {
      telemetry.of('source', source.name).errors++;
      if (o.onSourceError === undefined) throw err;
      o.onSourceError(err, source, lastPosition);
    }
    // Its input ended (or failed): release the file now, not after every other input.
    if (!o.shutdown.aborted) {
      await source.close();
      // Bare lines held for a jump ahead of their input's clock: nothing came after them.
      const held = ingest.endOfInput?.(onEvent);
      if (held !== undefined && (held.events > 0 || held.deadLetters.length > 0)) {
        sinceAdvance++;
        countRead(telemetry, source.name, held);
        telemetry.detected(held.events, 0, 0);
        summary.events += held.events;
        await deliver(false, held.deadLetters);
      }
    }
    // The source's last, partial stretch of lines.
    if (sinceAdvance > 0) {
      detection.advance();
      await deliver(false, []);
    }
  }

  if (!o.shutdown.aborted) {
    // Input ended (files): close every window, write it, and acknowledge everything.
    batchMax = Number.NEGATIVE_INFINITY;
    detection.finish();
    await deliver(true, []);
    await release(true);
    summary.completed = true;
  }
  summary.unacked = heldCount();
  return summary;
}
