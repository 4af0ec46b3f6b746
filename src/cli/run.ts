/**
 * `egress-sentinel run --config pipelines/FILE.yaml`: runs a pipeline from its config. The config
 * is checked first (every problem listed by path, nothing started); then every sink starts and
 * checks its server (failing loudly, naming it); then batches flow until the input ends or
 * SIGTERM/SIGINT, which finishes the batch in flight, commits what is complete and exits 0. A
 * second signal, or the shutdown grace running out, stops at once without committing the batch.
 * Input that ended (files, stdin) without one access-log line exits 4, as `replay` does: a wrong
 * format or the wrong file, not an idle mesh. A run stopped by a signal exits 0 whatever it read (a
 * Kafka topic may be quiet for a while).
 */
import { parseArgs } from 'node:util';
import { describeGatewayConfig } from '../identity/config.js';
import { formatGateways } from '../identity/gateway-evidence.js';
import { stderrLog } from '../pipeline/log.js';
import { runPipeline } from '../pipeline/loop.js';
import { startService } from '../pipeline/service.js';
import { buildSources, buildStages } from '../pipeline/stages.js';
import { loadCheckedConfig, securityWarnings } from '../pipeline/validate.js';
import { runScaledFromConfig } from '../scale/bootstrap.js';
import type { Command } from './command.js';
import { EXIT, UsageError } from './exit.js';
import { configPolicyWarnings, nothingReadWarning, printWarnings } from './warnings.js';

const HELP = `Usage: egress-sentinel run --config pipelines/FILE.yaml [--log-level debug|info|warn|error]

Runs the pipeline the config describes: sources, parsing, detection and sinks.
SIGTERM or SIGINT: finish the batch in flight, deliver and commit it, exit 0.
Exit codes: 2 invalid config, 3 the input could not be read, 4 the input ended (files, stdin) and
held no access-log line, 5 a server or sink failed.
Check a config first with: egress-sentinel check --config FILE
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
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values.config === undefined) throw new UsageError('run', '--config FILE is required.');
    const level = values['log-level'] ?? 'info';
    if (!['debug', 'info', 'warn', 'error'].includes(level))
      throw new UsageError('run', `--log-level: expected debug, info, warn or error, got "${level}".`);
    const log = stderrLog(level as 'info');
    const config = loadCheckedConfig(values.config);
    printWarnings([...configPolicyWarnings(config), ...securityWarnings(config)]);
    // Several instances in one group: re-keyed by source identity, state checkpointed (docs/scale-out.md).
    if (config.scale.enabled) return runScaledFromConfig(config, log, values.config);

    const service = await startService(config, log, 'Shutting down: finishing the batch in flight.');
    const { metrics, deadLetters, telemetry } = service;
    const sources = buildSources(config);
    const { ingest, detection } = buildStages(config);
    const reported = { late: 0, forcedReleases: 0 };
    try {
      log('info', 'Pipeline started.', {
        pipeline: config.name,
        sinks: service.sinks.map((s) => s.name).join(','),
        egress_gateways: describeGatewayConfig(config.mesh),
      });
      const summary = await runPipeline({
        sources,
        ingest,
        detection,
        flows: service.newFlows(),
        sinks: service.sinks,
        deadLetters: (letters) => deadLetters.write(letters),
        holdAcks: config.flows.holdAcks,
        retryInitialMs: config.delivery.retryInitialMs,
        retryMaxMs: config.delivery.retryMaxMs,
        shutdown: service.shutdown,
        stop: service.stop,
        log,
        telemetry,
        onSinkFailure: (sink) => metrics.sinkFailures.inc({ sink }),
        onBatch: (b) => {
          const s = b.ingest;
          metrics.countBatch(b.source, s.lines, s.events, b.deadLetters.length, s.skipped);
          metrics.countAlerts(b.alerts);
          metrics.observeAlertStage(detection.alerts);
          metrics.observeStateTables(detection.engine.keyTables);
          metrics.setInputLag(b.lag);
          metrics.uncommittedLines.set(b.unackedLines);
          metrics.pausedPartitions.set(b.pausedStreams);
          metrics.setEventTime('all', detection.engine, detection.inputs.idle, reported);
          metrics.recordComponents(telemetry);
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
          egress_gateways_found: formatGateways(ingest.gateways()),
          components: telemetry.toJSON(),
        },
      );
      const c = ingest.totals;
      if (summary.completed && c.accessLines === 0) {
        const from = sources.map((s) => s.name).join(', ');
        printWarnings([nothingReadWarning(from, c.lines, c.malformed, 'Check parse.format in the config')]);
        return EXIT.nothingAnalysed;
      }
      return EXIT.ok;
    } finally {
      for (const s of sources) await s.close().catch(() => {});
      await service.close();
    }
  },
};

export default runCommand;
