/**
 * What every long-running pipeline (`run`, plain or scaled) sets up around its batches: signal
 * handling with a shutdown grace, metrics and health, per-component telemetry, the dead-letter
 * file, the metrics server and the sinks (each started and checked, failing loudly with its index
 * and name). One place, so the plain and scaled runs cannot drift apart.
 */
import { FlowAggregator } from '../detect/flows.js';
import { SentinelError } from '../errors.js';
import { Health } from '../observability/health.js';
import { PipelineMetrics } from '../observability/metrics.js';
import { type MetricsServer, startMetricsServer } from '../observability/server.js';
import { Telemetry } from '../observability/telemetry.js';
import { createSink } from '../sinks/registry.js';
import type { LogFn, Sink, SinkContext } from '../sinks/types.js';
import type { PipelineConfig } from './config.js';
import { DeadLetterFile } from './dead-letters.js';

/** How long a baseline snapshot key lives without traffic. */
const BASELINE_TTL_MS = 7 * 86_400_000;

export interface PipelineService {
  /** Aborted on the first SIGTERM/SIGINT: finish the batch in flight, then stop. */
  readonly shutdown: AbortSignal;
  /** Aborted on a second signal or when the shutdown grace runs out: stop without committing. */
  readonly stop: AbortSignal;
  readonly metrics: PipelineMetrics;
  readonly health: Health;
  readonly deadLetters: DeadLetterFile;
  /** Per-component counts; the sinks' dead letters are counted here as they are written. */
  readonly telemetry: Telemetry;
  readonly sinks: readonly Sink[];
  /** A flow aggregator per the config, or null when flow summaries are off. */
  newFlows(): FlowAggregator | null;
  /** Removes the signal handlers, closes sinks, the dead-letter file and the metrics server. */
  close(): Promise<void>;
}

export async function startService(
  config: PipelineConfig,
  log: LogFn,
  shutdownMessage: string,
): Promise<PipelineService> {
  const shutdown = new AbortController();
  const stop = new AbortController();
  let graceTimer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shutdown.signal.aborted) {
      log('warn', 'Second signal: stopping now without committing the batch in flight.', { signal });
      stop.abort();
      return;
    }
    log('info', shutdownMessage, { signal });
    shutdown.abort();
    graceTimer = setTimeout(() => stop.abort(), config.delivery.shutdownGraceMs);
    graceTimer.unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const metrics = new PipelineMetrics({ labels: { pipeline: config.name } });
  const health = new Health();
  health.require('sinks started');
  const deadLetters = new DeadLetterFile(config.delivery.deadLetterFile);
  const telemetry = new Telemetry();
  const ctx: SinkContext = {
    deadLetter: (r) => {
      telemetry.of('sink', r.component).deadLetters++;
      return deadLetters.write([r]);
    },
    log,
    env: process.env,
    signal: stop.signal,
    onRetry: (sink) => metrics.sinkRetries.inc({ sink }),
  };
  const sinks: Sink[] = [];
  let server: MetricsServer | null = null;

  const close = async (): Promise<void> => {
    clearTimeout(graceTimer);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    for (const s of sinks)
      await s
        .close()
        .catch((err: unknown) =>
          log('warn', 'A sink did not close cleanly.', { sink: s.name, error: String(err) }),
        );
    await deadLetters.close();
    await server?.close();
  };

  try {
    if (config.metrics.enabled) {
      server = await startMetricsServer({
        host: config.metrics.host,
        port: config.metrics.port,
        registry: metrics.registry,
        health,
      });
      log('info', 'Serving metrics.', { port: server.port });
    }
    for (const [i, sinkConfig] of config.sinks.entries()) {
      const sink = createSink(sinkConfig, ctx);
      try {
        await sink.start();
      } catch (err) {
        throw new SentinelError(
          err instanceof SentinelError ? err.code : 'ESN_SINK',
          `sinks[${i}] (${sink.name}) cannot start: ${(err as Error).message}`,
          { cause: err, where: sink.name },
        );
      }
      sinks.push(sink);
    }
    health.set('sinks started', true);
  } catch (err) {
    await close();
    throw err;
  }

  return {
    shutdown: shutdown.signal,
    stop: stop.signal,
    metrics,
    health,
    deadLetters,
    telemetry,
    sinks,
    newFlows: () =>
      config.flows.enabled
        ? new FlowAggregator({
            allowedLatenessMs: config.flows.allowedLatenessMs,
            snapshotIntervalMs: config.flows.snapshotIntervalMs,
            baselineTtlMs: BASELINE_TTL_MS,
          })
        : null,
    close,
  };
}
