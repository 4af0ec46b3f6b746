/**
 * Starts a scaled pipeline instance from a loaded config: metrics port, sinks, dead letters, then
 * `runScaled`. `egress-sentinel run` calls it when `scale.enabled` is true.
 */
import { type DetectionConfig, defaultDetectionConfig } from '../detect/config.js';
import { FlowAggregator } from '../detect/flows.js';
import { SentinelError } from '../errors.js';
import { Health } from '../observability/health.js';
import { PipelineMetrics } from '../observability/metrics.js';
import { type MetricsServer, startMetricsServer } from '../observability/server.js';
import type { PipelineConfig } from '../pipeline/config.js';
import { DeadLetterFile } from '../pipeline/dead-letters.js';
import { loadPolicyFiles } from '../policy/load.js';
import { createSink } from '../sinks/registry.js';
import type { LogFn, Sink, SinkContext } from '../sinks/types.js';
import type { KafkaSourceConfig } from '../sources/config.js';
import { DetectionAnalyzer } from './detection-analyzer.js';
import { runScaled } from './run-scaled.js';

type WithDetection = PipelineConfig & { detection?: DetectionConfig; policies?: string[] };

export async function runScaledFromConfig(config: PipelineConfig, log: LogFn, file: string): Promise<number> {
  const input = config.sources.filter((s): s is KafkaSourceConfig => s.type === 'kafka');
  if (input.length !== 1 || config.sources.length !== 1) {
    throw new SentinelError(
      'ESN_CONFIG',
      `${file}: scale.enabled needs exactly one source, of type kafka (found ${config.sources.map((s) => s.type).join(', ') || 'none'}).`,
      { where: 'scale.enabled' },
    );
  }
  const detection = (config as WithDetection).detection ?? defaultDetectionConfig();
  const policies = loadPolicyFiles((config as WithDetection).policies ?? []);

  const shutdown = new AbortController();
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shutdown.signal.aborted) {
      stop.abort();
      return;
    }
    log('info', 'Shutting down: finishing the batch in flight, checkpointing, leaving the group.', {
      signal,
    });
    shutdown.abort();
    setTimeout(() => stop.abort(), config.delivery.shutdownGraceMs).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const metrics = new PipelineMetrics({ labels: { pipeline: config.name } });
  const health = new Health();
  const deadLetters = new DeadLetterFile(config.delivery.deadLetterFile);
  const ctx: SinkContext = {
    deadLetter: (r) => deadLetters.write(r),
    log,
    env: process.env,
    signal: stop.signal,
  };
  const sinks: Sink[] = [];
  let server: MetricsServer | null = null;
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
    const summary = await runScaled({
      name: config.name,
      input: input[0] as KafkaSourceConfig,
      scale: config.scale,
      decoder: {
        format: config.parse.format,
        ...(config.parse.customFormat === undefined ? {} : { customFormat: config.parse.customFormat }),
        ...(config.parse.customJsonFormat === undefined
          ? {}
          : { customJsonFormat: config.parse.customJsonFormat }),
      },
      mesh: config.mesh,
      newAnalyzer: () => new DetectionAnalyzer(detection, policies),
      newFlows: () =>
        config.flows.enabled
          ? new FlowAggregator({
              allowedLatenessMs: config.flows.allowedLatenessMs,
              snapshotIntervalMs: config.flows.snapshotIntervalMs,
              baselineTtlMs: 7 * 86_400_000,
            })
          : null,
      sinks,
      retryInitialMs: config.delivery.retryInitialMs,
      retryMaxMs: config.delivery.retryMaxMs,
      shutdown: shutdown.signal,
      stop: stop.signal,
      log,
      metrics,
      health,
      deadLetter: (r) => deadLetters.write(r),
    });
    log('info', 'Stopped; state checkpointed and offsets committed.', {
      ...summary,
      dead_letters: deadLetters.count,
    });
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    for (const s of sinks) await s.close().catch(() => {});
    await deadLetters.close();
    await server?.close();
  }
}
