/**
 * `egress-sentinel replay`: runs the full detection over log files (or stdin) on event time and
 * writes alerts as JSON lines. The same input always gives byte-identical alerts.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { RuleId, Severity } from '../alerts/types.js';
import type { DeadLetter } from '../dead-letter.js';
import { loadState, saveState } from '../detect/state/persist.js';
import { SentinelError } from '../errors.js';
import { describeGatewayConfig } from '../identity/config.js';
import { formatGateways } from '../identity/gateway-evidence.js';
import { Telemetry } from '../observability/telemetry.js';
import type { FormatMode } from '../parse/decoder.js';
import { loadPipelineConfig, type PipelineConfig, parsePipelineConfig } from '../pipeline/config.js';
import type { Detection } from '../pipeline/detection.js';
import type { Ingest } from '../pipeline/ingest.js';
import { runPipeline } from '../pipeline/loop.js';
import { buildStages } from '../pipeline/stages.js';
import { loadPolicyFiles } from '../policy/load.js';
import { FlowAccumulator } from '../report/flows.js';
import type { Sink, SinkBatch } from '../sinks/types.js';
import { FileSource } from '../sources/file.js';
import { StdinSource } from '../sources/stdin.js';
import type { Source } from '../sources/types.js';
import type { Command } from './command.js';
import { EXIT, UsageError } from './exit.js';
import { nothingReadWarning, policyWarnings, printWarnings } from './warnings.js';

/** Event time advances once per this many lines (and at each input's end). */
const ADVANCE_LINES = 4096;
/**
 * Lines read at a time: a fraction of ADVANCE_LINES, so fewer lines are alive at once (each young-GC
 * copies the live ones). Event time still advances once per ADVANCE_LINES lines, so alerts are the same.
 */
const READ_LINES = 512;

const HELP = `Usage: egress-sentinel replay [options] [INPUT ...]

Replays Istio/Envoy access-log files (plain or gzip; stdin when no INPUT or "-") through the full
detection on event time, writes alerts as JSON lines, and prints a summary on stderr. An alert that
stands is written again (same alert.id) as its repeat count grows and when it resolves: the last
record of an id is its current state (\`report\` keeps that one).

Options:
  --config FILE         pipeline config (YAML); defaults without it
  --policy FILE         EgressPolicy or Istio AuthorizationPolicy YAML (repeatable); without any,
                        forbidden-destination has no allow-list (a warning says so)
  --alerts FILE         write alerts here (default: stdout)
  --flows FILE          write flow summaries (one per source, destination, path and reporter) as
                        JSON lines, for \`report --events FILE\`'s egress map
  --dead-letters FILE   malformed and late lines as JSON lines (default: next to --alerts, else
                        not written)
  --state DIR           load learned state from DIR on start and save it on exit
  --format F            auto|text|json|custom (overrides the config; custom needs parse.customFormat)
  --fail-on SEVERITY    exit 1 when an alert of this severity or higher was raised
                        (low|medium|high|critical)
  --progress            print progress (lines, rate, alerts) on stderr every 2 s; on by default
                        when stderr is a terminal, --no-progress turns it off

Exit codes: 0 analysed (no alert at or above --fail-on), 1 alerts at or above --fail-on,
2 usage or config error, 3 an input or output could not be read or written,
4 nothing analysed (no access-log line was read).
`;

const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
/** Progress lines at most this often. */
const PROGRESS_MS = 2000;

async function openOut(path: string): Promise<WriteStream> {
  const stream = createWriteStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err) =>
      reject(
        new SentinelError(
          'ESN_INPUT',
          `Cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? err.message}.`,
          { where: path },
        ),
      ),
    );
  });
  return stream;
}

function write(out: NodeJS.WritableStream, text: string): Promise<void> | undefined {
  if (text.length === 0) return undefined;
  if (out.write(text)) return undefined;
  return new Promise((resolve) => out.once('drain', () => resolve()));
}

function formatSummary(
  ingest: Ingest,
  detection: Detection,
  telemetry: Telemetry,
  ms: number,
  alertsWritten: number,
  statePath: string | null,
): string {
  const c = ingest.totals;
  const alerts = detection.alerts;
  let skipped = 0;
  for (const n of c.skipped.values()) skipped += n;
  const perRule = Object.entries(alerts.raised).filter(([, n]) => n > 0) as [RuleId, number][];
  const lines = [
    `Replayed ${c.lines} lines in ${(ms / 1000).toFixed(2)} s (${Math.round(c.lines / Math.max(ms / 1000, 0.001))} lines/s).`,
    `  access lines: ${c.accessLines} (egress analysed: ${c.events}, in-mesh/inbound: ${c.notEgress}, late: ${detection.counts.late}, dead-lettered; late legs joined to their connection's other leg: ${detection.engine.joiner.counters.joinedLate}, and ${detection.engine.joiner.counters.joinedAfterDeadLetter} after their dead letter)`,
    `  skipped: ${skipped}${
      skipped > 0 ? ` (${[...c.skipped].map(([r, n]) => `${r}: ${n}`).join(', ')})` : ''
    }`,
    `  malformed: ${c.malformed} (dead-lettered: ${c.deadLettered})`,
    `  alerts: ${perRule.reduce((a, [, n]) => a + n, 0)} (${alertsWritten} records written)`,
    ...perRule.map(([rule, n]) => `    ${rule}: ${n}`),
    `  egress gateways found: ${formatGateways(ingest.gateways())}`,
    `  repeats suppressed: ${alerts.repeatsSuppressed}; exceptions applied: ${alerts.exceptionsApplied}`,
    ...alerts.exceptionCounts
      .filter((e) => e.suppressed > 0)
      .map((e) => `    exception ${e.index} (${e.rule}, ${e.reason}): ${e.suppressed}`),
  ];
  lines.push('  per component (in / out / discarded / errors / dead letters):');
  for (const [id, c] of telemetry.entries())
    lines.push(`    ${id}: ${c.received} / ${c.sent} / ${c.discarded} / ${c.errors} / ${c.deadLetters}`);
  if (statePath !== null) lines.push(`  state saved to ${statePath}`);
  return `${lines.join('\n')}\n`;
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'Run detection over log files (or stdin) and write alerts as JSON lines.',
  async run(args) {
    const parsed = parse(args);
    const v = parsed.values;
    if (v.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const started = performance.now();
    if (v.format !== undefined && !['auto', 'text', 'json', 'custom'].includes(v.format))
      throw new UsageError('replay', `--format: expected auto, text, json or custom, got "${v.format}".`);
    const failOn = v['fail-on'];
    if (failOn !== undefined && !SEVERITIES.includes(failOn as Severity))
      throw new UsageError('replay', `--fail-on: expected ${SEVERITIES.join(', ')}, got "${failOn}".`);
    const config: PipelineConfig =
      v.config === undefined ? parsePipelineConfig({}, '(defaults)') : loadPipelineConfig(v.config);
    const format = (v.format as FormatMode | undefined) ?? config.parse.format;
    if (
      format === 'custom' &&
      config.parse.customFormat === undefined &&
      config.parse.customJsonFormat === undefined
    )
      throw new UsageError(
        'replay',
        '--format custom needs the log format: set parse.customFormat (or parse.customJsonFormat) in a --config file.',
      );
    // Policy files named in a config are relative to that config file.
    const configDir = v.config === undefined ? process.cwd() : dirname(resolve(v.config));
    const policyFiles = [...config.policies.map((p) => resolve(configDir, p)), ...(v.policy ?? [])];
    const policies = loadPolicyFiles(policyFiles, config.policyTarget);
    printWarnings(policyWarnings(config, policies, policyFiles.length));
    const flows = v.flows === undefined ? null : new FlowAccumulator();
    const { ingest, detection } = buildStages(config, { policies, format });
    const failRank = failOn === undefined ? Number.POSITIVE_INFINITY : SEVERITIES.indexOf(failOn as Severity);
    const failing = new Set<string>();
    const progress =
      v.progress === true || (v.progress === undefined && process.stderr.isTTY === true)
        ? new Progress(process.stderr.isTTY === true)
        : null;
    if (v.state !== undefined) await loadState(v.state, detection.engine.state);
    process.stderr.write(`Egress gateways recognised by: ${describeGatewayConfig(config.mesh)}.\n`);

    const alertsOut: NodeJS.WritableStream =
      v.alerts === undefined ? process.stdout : await openOut(v.alerts);
    const deadPath =
      v['dead-letters'] ??
      (v.alerts === undefined ? undefined : join(dirname(v.alerts), 'dead-letters.jsonl'));
    let deadOut: WriteStream | null = null;
    let alertsWritten = 0;
    // The embedded mode's one sink: alerts as JSON lines, in the order they were raised.
    const alertsSink: Sink = {
      name: v.alerts === undefined ? 'stdout' : `file:${v.alerts}`,
      start: async () => {},
      async write(batch: SinkBatch) {
        alertsWritten += batch.alerts.length;
        let text = '';
        for (const a of batch.alerts) {
          text += `${JSON.stringify(a)}\n`;
          if (SEVERITIES.indexOf(a.severity) >= failRank) failing.add(a.alert.id);
        }
        await write(alertsOut, text);
      },
      close: async () => {},
    };
    const writeDeadLetters = async (letters: readonly DeadLetter[]): Promise<void> => {
      if (deadPath === undefined) return;
      deadOut ??= await openOut(deadPath);
      await write(deadOut, letters.map((d) => `${JSON.stringify(d)}\n`).join(''));
    };

    const inputs = parsed.positionals.length === 0 ? ['-'] : parsed.positionals;
    const inputOf = new Map<Source, string>();
    const sources = inputs.map((input) => {
      const source =
        input === '-'
          ? new StdinSource({ batchSize: READ_LINES })
          : new FileSource({ path: input, batchSize: READ_LINES });
      inputOf.set(source, input);
      return source;
    });
    const unreadable: SentinelError[] = [];
    const never = new AbortController().signal;
    const telemetry = new Telemetry();
    try {
      await runPipeline({
        sources,
        ingest,
        detection,
        flows,
        sinks: [alertsSink],
        deadLetters: writeDeadLetters,
        holdAcks: false,
        retryInitialMs: 0,
        retryMaxMs: 0,
        shutdown: never,
        stop: never,
        log: () => {},
        advanceEveryLines: ADVANCE_LINES,
        telemetry,
        // Name the file and where reading stopped (a truncated gzip, a vanished file), keep what its
        // lines already raised and go on with the next input; the command fails at the end.
        onSourceError: (err, source, lastPosition) => {
          const input = inputOf.get(source) ?? source.name;
          const lastLine = lastPosition === undefined ? 0 : Number(lastPosition);
          const e = new SentinelError(
            'ESN_INPUT',
            `Cannot read ${input} after line ${lastLine}: ${(err as Error).message}`,
            { where: `${input}:${lastLine + 1}`, cause: err },
          );
          unreadable.push(e);
          process.stderr.write(`error: ${e.message}; continuing with the other inputs.\n`);
        },
        onBatch: (b) =>
          progress?.tick(ingest.totals.lines, alertsWritten, b.source === 'stdin' ? '-' : b.source.slice(5)),
      });
    } finally {
      for (const s of sources) await s.close();
    }
    progress?.done();
    let statePath: string | null = null;
    if (v.state !== undefined) {
      saveState(v.state, detection.engine.state);
      statePath = v.state;
    }
    const closing: Promise<void>[] = [];
    for (const s of [
      alertsOut === process.stdout ? null : (alertsOut as WriteStream),
      deadOut as WriteStream | null,
    ]) {
      if (s !== null) closing.push(new Promise((resolve) => s.end(() => resolve())));
    }
    if (flows !== null && v.flows !== undefined) {
      const out = await openOut(v.flows);
      await write(
        out,
        flows
          .docs()
          .map((f) => `${JSON.stringify(f)}\n`)
          .join(''),
      );
      closing.push(new Promise((resolve) => out.end(() => resolve())));
    }
    await Promise.all(closing);
    process.stderr.write(
      formatSummary(ingest, detection, telemetry, performance.now() - started, alertsWritten, statePath),
    );
    // Everything readable was replayed and written; an input that was not still fails the command.
    if (unreadable.length > 0) throw unreadable[0] as SentinelError;
    if (flows !== null) process.stderr.write(`  flows: ${flows.size} written to ${v.flows}\n`);
    const c = ingest.totals;
    if (c.accessLines === 0) {
      printWarnings([nothingReadWarning(inputs.join(', '), c.lines, c.malformed, 'Try --format')]);
      return EXIT.nothingAnalysed;
    }
    if (failing.size > 0) {
      process.stderr.write(`replay: ${failing.size} alerts at or above --fail-on ${failOn}.\n`);
      return EXIT.alerts;
    }
    return EXIT.ok;
  },
};

/** Progress on stderr: rewritten in place on a terminal, one line each time otherwise. */
class Progress {
  private readonly started = performance.now();
  private last = this.started;
  private shown = false;

  constructor(private readonly terminal: boolean) {}

  tick(lines: number, alerts: number, input: string): void {
    const now = performance.now();
    if (now - this.last < PROGRESS_MS) return;
    this.last = now;
    const rate = Math.round(lines / Math.max((now - this.started) / 1000, 0.001));
    const text = `replay: ${input === '-' ? 'stdin' : input}: ${lines.toLocaleString('en-US')} lines, ${rate.toLocaleString('en-US')} lines/s, ${alerts} alert records`;
    process.stderr.write(this.terminal ? `\r${text}\u001b[K` : `${text}\n`);
    this.shown = true;
  }

  done(): void {
    if (this.terminal && this.shown) process.stderr.write('\n');
  }
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    allowNegative: true,
    options: {
      config: { type: 'string' },
      policy: { type: 'string', multiple: true },
      alerts: { type: 'string' },
      'dead-letters': { type: 'string' },
      state: { type: 'string' },
      format: { type: 'string' },
      flows: { type: 'string' },
      'fail-on': { type: 'string' },
      progress: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
