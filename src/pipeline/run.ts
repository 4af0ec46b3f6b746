/**
 * The run loop: for each source batch, process it synchronously (lines -> events -> alerts), close
 * flow minutes the watermark passed, `await` every sink's acceptance of what the batch produced,
 * then acknowledge (commit). At least once end to end; the deterministic ids of alerts, flows and
 * events make a redelivery overwrite instead of duplicating downstream.
 *
 * With flow summaries on, a batch's ack is held until every minute it fed has been written
 * (acks stay in order), so after a crash the replay from the last commit rebuilds each open
 * minute completely; the rebuilt partial copy of an already-written minute has the same id and is
 * refused as a duplicate. On shutdown the batch in flight is finished and what is complete is
 * committed; open minutes are not written (the restart replays them).
 */
import type { Alert } from '../alerts/types.js';
import type { FlowAggregator } from '../detect/flows.js';
import type { EgressEvent } from '../identity/types.js';
import type { LogFn, Sink, SinkBatch } from '../sinks/types.js';
import type { LineBatch, Source } from '../sources/types.js';
import { deliverToAll } from './deliver.js';

/** The synchronous core: raw lines to alerts, telling the caller about each normalised event. */
export interface BatchProcessor {
  process(batch: LineBatch, onEvent: (event: EgressEvent) => void): { readonly alerts: readonly Alert[] };
  /** End of input: close every window and return what that fires. */
  finish(onEvent: (event: EgressEvent) => void): { readonly alerts: readonly Alert[] };
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
  readonly onSinkFailure?: (sink: string) => void;
  readonly onBatch?: (stats: { lines: number; events: number; alerts: number }) => void;
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
  const held: Array<{ ack: () => Promise<void>; lastMinute: number }> = [];
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

  /** Acks, in order, every held batch whose minutes are all written. */
  const release = async (all: boolean): Promise<void> => {
    const openSince = all ? Number.POSITIVE_INFINITY : (o.flows?.openSince() ?? Number.POSITIVE_INFINITY);
    while (held.length > 0 && (held[0] as { lastMinute: number }).lastMinute < openSince) {
      await (held.shift() as { ack: () => Promise<void> }).ack();
    }
  };

  for (const source of o.sources) {
    if (o.shutdown.aborted) break;
    for await (const batch of source.batches(o.shutdown)) {
      batchMax = Number.NEGATIVE_INFINITY;
      const eventsBefore = summary.events;
      const { alerts } = o.processor.process(batch, onEvent);
      await deliver(alerts, false);
      summary.batches++;
      summary.lines += batch.lines.length;
      o.onBatch?.({
        lines: batch.lines.length,
        events: summary.events - eventsBefore,
        alerts: alerts.length,
      });
      if (o.flows !== null && o.holdAcks) {
        held.push({
          ack: () => batch.ack(),
          lastMinute: Number.isFinite(batchMax) ? batchMax - (batchMax % MINUTE) : Number.NEGATIVE_INFINITY,
        });
        await release(false);
      } else {
        await batch.ack();
      }
      if (o.shutdown.aborted) break;
    }
  }

  if (!o.shutdown.aborted) {
    // Input ended (files): close every window, write it, and acknowledge everything.
    batchMax = Number.NEGATIVE_INFINITY;
    const { alerts } = o.processor.finish(onEvent);
    await deliver(alerts, true);
    await release(true);
    summary.completed = true;
  }
  summary.unacked = held.length;
  return summary;
}
