/**
 * The run loop: for each source batch, process it synchronously (lines -> events -> alerts), close
 * flow minutes the watermark passed, `await` every sink's acceptance of what the batch produced,
 * then acknowledge (commit). At least once end to end; the deterministic ids of alerts, flows and
 * events make a redelivery overwrite instead of duplicating downstream.
 *
 * A batch's ack is held (acks stay in order per input partition, each partition on its own: a
 * partition ahead must not hold back a slow one's commits) until the detectors have seen its events
 * (they hold events back for lateness and for the slowest partition) and every flow minute it fed
 * has been written, so after a crash the
 * replay from the last commit re-analyses every event whose alerts were not out yet and rebuilds
 * each open minute completely; the rebuilt partial copy of an already-written minute has the same
 * id and is refused as a duplicate. On shutdown the batch in flight is finished and what is complete is
 * committed; open minutes are not written (the restart replays them).
 */
import type { Alert } from '../alerts/types.js';
import type { FlowAggregator } from '../detect/flows.js';
import type { EgressEvent } from '../identity/types.js';
import type { DeadLetter, LogFn, Sink, SinkBatch } from '../sinks/types.js';
import type { LineBatch, PartitionLag, Source } from '../sources/types.js';
import { deliverToAll } from './deliver.js';

/** The synchronous core: raw lines to alerts, telling the caller about each normalised event. */
export interface BatchProcessor {
  /** `deadLetters`: lines that could not be read, stored before the batch is acknowledged. */
  process(
    batch: LineBatch,
    onEvent: (event: EgressEvent) => void,
  ): { readonly alerts: readonly Alert[]; readonly deadLetters?: readonly DeadLetter[] };
  /**
   * Event time up to which every observed event has reached the detectors (they hold events back
   * for lateness). A batch is acknowledged only once this passed its events, so a crash never
   * loses an event that was committed but not yet analysed.
   */
  watermark?(): number;
  /** End of input: close every window and return what that fires. */
  finish(onEvent: (event: EgressEvent) => void): {
    readonly alerts: readonly Alert[];
    readonly deadLetters?: readonly DeadLetter[];
  };
}

export interface RunOptions {
  readonly sources: readonly Source[];
  readonly processor: BatchProcessor;
  readonly sinks: readonly Sink[];
  readonly flows: FlowAggregator | null;
  readonly holdAcks: boolean;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Aborted on SIGTERM/SIGINT: finish the batch in flight, commit, stop. */
  readonly shutdown: AbortSignal;
  /** Aborted when the shutdown grace ran out: give up on the batch in flight. */
  readonly stop: AbortSignal;
  readonly log: LogFn;
  /** Stores a dead letter (unreadable line); awaited before the batch is acknowledged. */
  readonly deadLetter?: (record: DeadLetter) => Promise<void>;
  readonly onSinkFailure?: (sink: string) => void;
  readonly onBatch?: (stats: {
    source: string;
    lines: number;
    events: number;
    alerts: readonly Alert[];
    lag: PartitionLag | undefined;
  }) => void;
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
}

const MINUTE = 60_000;

function copyEvent(e: EgressEvent): EgressEvent {
  return { ...e, source: { ...e.source }, destination: { ...e.destination } };
}

export async function runPipeline(o: RunOptions): Promise<RunSummary> {
  const summary: RunSummary = {
    batches: 0,
    lines: 0,
    events: 0,
    alerts: 0,
    flows: 0,
    unacked: 0,
    completed: false,
  };
  const wantsEvents = o.sinks.some((s) => s.wantsEvents === true);
  /** Batches processed, not acked yet, per input stream, in order. */
  const held = new Map<string, Array<{ ack: () => Promise<void>; maxTime: number; lastMinute: number }>>();
  let events: EgressEvent[] = [];
  let batchMax = Number.NEGATIVE_INFINITY;
  const onEvent = (e: EgressEvent): void => {
    summary.events++;
    o.flows?.observe(e);
    if (e.time > batchMax) batchMax = e.time;
    if (wantsEvents) events.push(copyEvent(e));
  };

  const deliver = async (alerts: readonly Alert[], final: boolean): Promise<void> => {
    const drained = o.flows?.drain(final) ?? { flows: [], baselines: [] };
    const batch: SinkBatch = { alerts, flows: drained.flows, baselines: drained.baselines, events };
    events = [];
    summary.alerts += alerts.length;
    summary.flows += drained.flows.length;
    await deliverToAll(o.sinks, batch, {
      retryInitialMs: o.retryInitialMs,
      retryMaxMs: o.retryMaxMs,
      stop: o.stop,
      log: o.log,
      ...(o.onSinkFailure ? { onSinkFailure: o.onSinkFailure } : {}),
    });
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
    const analysedUpTo = all
      ? Number.POSITIVE_INFINITY
      : (o.processor.watermark?.() ?? Number.POSITIVE_INFINITY);
    const openSince = all ? Number.POSITIVE_INFINITY : (o.flows?.openSince() ?? Number.POSITIVE_INFINITY);
    for (const list of held.values()) {
      for (;;) {
        const first = list[0];
        if (first === undefined || first.maxTime > analysedUpTo || first.lastMinute >= openSince) break;
        list.shift();
        await ack(first.ack);
      }
    }
  };
  const heldCount = (): number => {
    let n = 0;
    for (const list of held.values()) n += list.length;
    return n;
  };

  for (const source of o.sources) {
    if (o.shutdown.aborted) break;
    for await (const batch of source.batches(o.shutdown)) {
      batchMax = Number.NEGATIVE_INFINITY;
      const eventsBefore = summary.events;
      const { alerts, deadLetters } = o.processor.process(batch, onEvent);
      await deliver(alerts, false);
      if (deadLetters !== undefined && o.deadLetter !== undefined)
        for (const d of deadLetters) await o.deadLetter(d);
      summary.batches++;
      summary.lines += batch.lines.length;
      o.onBatch?.({
        source: batch.source,
        lines: batch.lines.length,
        events: summary.events - eventsBefore,
        alerts,
        lag: batch.lag,
      });
      if (o.holdAcks) {
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
        });
        await release(false);
      } else {
        await ack(() => batch.ack());
      }
      if (o.shutdown.aborted) break;
    }
  }

  if (!o.shutdown.aborted) {
    // Input ended (files): close every window, write it, and acknowledge everything.
    batchMax = Number.NEGATIVE_INFINITY;
    const { alerts, deadLetters } = o.processor.finish(onEvent);
    await deliver(alerts, true);
    if (deadLetters !== undefined && o.deadLetter !== undefined)
      for (const d of deadLetters) await o.deadLetter(d);
    await release(true);
    summary.completed = true;
  }
  summary.unacked = heldCount();
  return summary;
}
