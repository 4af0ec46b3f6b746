/**
 * Delivers one batch's output to every sink, and does not return until each has accepted it. A
 * sink that fails is retried alone (the others are not written twice) with a growing pause:
 * that is the backpressure, because the run loop pulls no new batch meanwhile. Nothing is skipped
 * and nothing is buffered beyond the one batch. Only `stop` (a hard stop after the shutdown grace)
 * makes it give up, by throwing.
 */
import { SentinelError } from '../errors.js';
import { backoffDelay, sleep } from '../sinks/backoff.js';
import type { LogFn, Sink, SinkBatch } from '../sinks/types.js';

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
