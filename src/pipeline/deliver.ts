/**
 * Delivers one batch's output to every sink, and does not return until each has accepted it. A
 * sink that fails is retried alone (the others are not written twice) with a growing pause:
 * that is the backpressure, because the run loop pulls no new batch meanwhile. Nothing is skipped
 * and nothing is buffered beyond the one batch. Only `stop` (a hard stop after the shutdown grace)
 * makes it give up, by throwing.
 */
import type { Alert } from '../alerts/types.js';
import type { DeadLetter } from '../dead-letter.js';
import { SentinelError } from '../errors.js';
import type { EgressEvent } from '../identity/types.js';
import type { Telemetry } from '../observability/telemetry.js';
import { backoffDelay, sleep } from '../sinks/backoff.js';
import type { BaselineSnapshot, FlowSummary, LogFn, Sink, SinkBatch } from '../sinks/types.js';
import type { Detection } from './detection.js';

export interface DeliverOptions {
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Aborted when the pipeline must stop even with the batch undelivered. */
  readonly stop: AbortSignal;
  readonly log: LogFn;
  readonly onSinkFailure?: (sink: string) => void;
}

function isEmpty(b: SinkBatch): boolean {
  return b.alerts.length === 0 && b.flows.length === 0 && b.baselines.length === 0 && b.events.length === 0;
}

export async function deliverToAll(
  sinks: readonly Sink[],
  batch: SinkBatch,
  o: DeliverOptions,
): Promise<void> {
  if (isEmpty(batch)) return;
  let pending = [...sinks];
  for (let attempt = 1; ; attempt++) {
    const results = await Promise.allSettled(pending.map((s) => s.write(batch)));
    const failed: Sink[] = [];
    results.forEach((r, i) => {
      const sink = pending[i] as Sink;
      if (r.status === 'rejected') {
        failed.push(sink);
        o.onSinkFailure?.(sink.name);
        o.log('warn', 'Sink failed a batch; consumption is paused until it accepts it.', {
          sink: sink.name,
          attempt,
          error: (r.reason as Error)?.message ?? String(r.reason),
        });
      }
    });
    if (failed.length === 0) {
      if (attempt > 1) o.log('info', 'Sinks accepted the batch; consumption resumes.', { attempts: attempt });
      return;
    }
    pending = failed;
    if (o.stop.aborted) break;
    await sleep(
      backoffDelay(attempt, { initialDelayMs: o.retryInitialMs, maxDelayMs: o.retryMaxMs }),
      o.stop,
    );
    if (o.stop.aborted) break;
  }
  throw new SentinelError(
    'ESN_SINK',
    `Stopped with a batch not accepted by: ${pending.map((s) => s.name).join(', ')}.`,
  );
}

/** Where a batch's output goes (`deliverDetected`). */
export interface DetectedDelivery {
  readonly sinks: readonly Sink[];
  readonly delivery: DeliverOptions;
  readonly telemetry: Telemetry;
  /** Stores dead letters (unreadable and late lines); called once the sinks accepted the batch. */
  readonly deadLetters: (letters: readonly DeadLetter[]) => Promise<void>;
}

/** What a batch produced besides what the Detection stage holds. */
export interface BatchOutput {
  flows: FlowSummary[];
  baselines: BaselineSnapshot[];
  /** Raw events, for a sink that indexes them (`wantsEvents`). */
  events: EgressEvent[];
  /** Lines (or records) that could not be read. */
  unreadable: readonly DeadLetter[];
}

/**
 * The end of a batch, for the run loop and a scaled run's stage 2 alike: takes the alerts and late
 * events the Detection stage released, delivers them with the batch's flow minutes and raw events to
 * every sink (until each accepted them), then stores the dead letters; counts it all in `telemetry`.
 */
export async function deliverDetected(
  detection: Pick<Detection, 'takeAlerts' | 'takeDeadLetters'>,
  out: BatchOutput,
  o: DetectedDelivery,
): Promise<{ alerts: Alert[]; deadLetters: readonly DeadLetter[]; late: number }> {
  const alerts = detection.takeAlerts();
  const late = detection.takeDeadLetters();
  const letters = late.length === 0 ? out.unreadable : [...out.unreadable, ...late];
  const batch: SinkBatch = { alerts, flows: out.flows, baselines: out.baselines, events: out.events };
  o.telemetry.detected(0, alerts.length, late.length);
  await deliverToAll(o.sinks, batch, o.delivery);
  o.telemetry.delivered(
    o.sinks,
    alerts.length + batch.flows.length + batch.baselines.length + batch.events.length,
  );
  if (letters.length > 0) await o.deadLetters(letters);
  return { alerts, deadLetters: letters, late: late.length };
}
