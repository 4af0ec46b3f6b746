/**
 * `egress-sentinel run --config pipelines/FILE.yaml`: runs a pipeline from its config. The config
 * is checked first (every problem listed by path, nothing started); then every sink starts and
 * checks its server (failing loudly, naming it); then batches flow until the input ends or
 * SIGTERM/SIGINT, which finishes the batch in flight, commits what is complete and exits 0. A
 * second signal, or the shutdown grace running out, stops at once without committing the batch.
 */
import { parseArgs } from 'node:util';
import { FlowAggregator } from '../detect/flows.js';
import { SentinelError } from '../errors.js';
import { Health } from '../observability/health.js';
import { PipelineMetrics } from '../observability/metrics.js';
import { type MetricsServer, startMetricsServer } from '../observability/server.js';
import { buildCore } from '../pipeline/core.js';
import { DeadLetterFile } from '../pipeline/dead-letters.js';
import { stderrLog } from '../pipeline/log.js';
import { runPipeline } from '../pipeline/run.js';
import { loadCheckedConfig } from '../pipeline/validate.js';
import { runScaledFromConfig } from '../scale/bootstrap.js';
import { createSink } from '../sinks/registry.js';
import type { Sink, SinkContext } from '../sinks/types.js';
import type { Command } from './command.js';

const HELP = `Usage: egress-sentinel run --config pipelines/FILE.yaml [--log-level debug|info|warn|error]

Runs the pipeline the config describes: sources, parsing, detection and sinks.
SIGTERM or SIGINT: finish the batch in flight, deliver and commit it, exit 0.
`;

export const runCommand: Command = {
  name: 'run',
  summary: 'Run a pipeline from its config (sources -> detection -> sinks).',
  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help || values.config === undefined) {
      (values.help ? process.stdout : process.stderr).write(HELP);
      return values.help ? 0 : 2;
    }
    const level = values['log-level'] ?? 'info';
    if (!['debug', 'info', 'warn', 'error'].includes(level))
      throw new SentinelError(
        'ESN_CONFIG',
        `--log-level: expected debug, info, warn or error, got "${level}".`,
      );
    const log = stderrLog(level as 'info');
    const config = loadCheckedConfig(values.config);
    // Several instances in one group: re-keyed by source identity, state checkpointed (docs/scale-out.md).
    if (config.scale.enabled) return runScaledFromConfig(config, log, values.config);

    const shutdown = new AbortController();
    const stop = new AbortController();
    let graceTimer: NodeJS.Timeout | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (shutdown.signal.aborted) {
        log('warn', 'Second signal: stopping now without committing the batch in flight.', { signal });
        stop.abort();
        return;
      }
      log('info', 'Shutting down: finishing the batch in flight.', { signal });
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
    const ctx: SinkContext = {
      deadLetter: (r) => deadLetters.write(r),
      log,
      env: process.env,
      signal: stop.signal,
      onRetry: (sink) => metrics.sinkRetries.inc({ sink }),
    };
    const sinks: Sink[] = [];
    let server: MetricsServer | null = null;
    const core = buildCore(config);
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
          const e = err as Error;
          throw new SentinelError(
            err instanceof SentinelError ? err.code : 'ESN_SINK',
            `sinks[${i}] (${sink.name}) cannot start: ${e.message}`,
            { cause: err, where: sink.name },
          );
        }
        sinks.push(sink);
      }
      health.set('sinks started', true);
      log('info', 'Pipeline started.', { pipeline: config.name, sinks: sinks.map((s) => s.name).join(',') });
      const flows = config.flows.enabled
        ? new FlowAggregator({
            allowedLatenessMs: config.flows.allowedLatenessMs,
            snapshotIntervalMs: config.flows.snapshotIntervalMs,
            baselineTtlMs: 7 * 86_400_000,
          })
        : null;
      const summary = await runPipeline({
        sources: core.sources,
        processor: core.processor,
        sinks,
        flows,
        holdAcks: config.flows.holdAcks,
        retryInitialMs: config.delivery.retryInitialMs,
        retryMaxMs: config.delivery.retryMaxMs,
        shutdown: shutdown.signal,
        stop: stop.signal,
        log,
        deadLetter: (r) => deadLetters.write(r),
        onSinkFailure: (sink) => metrics.sinkFailures.inc({ sink }),
        onBatch: (b) => {
          metrics.linesReceived.inc({ source: b.source }, b.lines);
          metrics.eventsReceived.inc({ source: b.source }, b.events);
          metrics.countAlerts(b.alerts);
        },
      });
      log(
        'info',
        summary.completed
          ? 'Input ended; everything delivered.'
          : 'Stopped; everything complete was delivered and committed.',
        {
          batches: summary.batches,
          lines: summary.lines,
          events: summary.events,
          alerts: summary.alerts,
          flows: summary.flows,
          unacked_batches: summary.unacked,
          dead_letters: deadLetters.count,
        },
      );
      return 0;
    } finally {
      clearTimeout(graceTimer);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      for (const s of core.sources) await s.close().catch(() => {});
      for (const s of sinks)
        await s
          .close()
          .catch((err: unknown) =>
            log('warn', 'A sink did not close cleanly.', { sink: s.name, error: String(err) }),
          );
      await deadLetters.close();
      await server?.close();
    }
  },
};

export default runCommand;
