/**
 * `egress-sentinel replay`: runs the full detection over log files (or stdin) on event time and
 * writes alerts as JSON lines. The same input always gives byte-identical alerts.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { RuleId } from '../alerts/types.js';
import { loadState, saveState } from '../detect/state/persist.js';
import { SentinelError } from '../errors.js';
import type { FormatMode } from '../parse/decoder.js';
import { loadPipelineConfig, type PipelineConfig, parsePipelineConfig } from '../pipeline/config.js';
import { lineDeadLetter } from '../pipeline/core.js';
import { BatchProcessor, type DeadLetter } from '../pipeline/processor.js';
import { loadPolicyFiles } from '../policy/load.js';
import { FileSource } from '../sources/file.js';
import { StdinSource } from '../sources/stdin.js';
import type { Command } from './command.js';

/** Lines per batch: the engine advances event time once per batch. */
const BATCH = 4096;
/**
 * Lines read at a time: a fraction of a batch, so fewer lines are alive at once (each young-GC
 * copies the live ones). Event time still advances once per BATCH lines, so alerts are the same.
 */
const READ_LINES = 512;

const HELP = `Usage: egress-sentinel replay [options] [INPUT ...]

Replays Istio/Envoy access-log files (plain or gzip; stdin when no INPUT or "-") through the full
detection on event time, writes alerts as JSON lines, and prints a summary on stderr.

Options:
  --config FILE         pipeline config (YAML); defaults without it
  --policy FILE         EgressPolicy or Istio AuthorizationPolicy YAML (repeatable)
  --alerts FILE         write alerts here (default: stdout)
  --dead-letters FILE   malformed and late lines as JSON lines, the records \`run\` writes
                        (default: next to --alerts, else not written)
  --state DIR           load learned state from DIR on start and save it on exit
  --format F            auto|text|json|custom (overrides the config)
`;

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
  p: BatchProcessor,
  ms: number,
  alertsWritten: number,
  statePath: string | null,
): string {
  const c = p.counters;
  const skipped = Object.values(c.skipped).reduce((a, b) => a + b, 0);
  const perRule = Object.entries(p.alertsPerRule()).filter(([, n]) => n > 0) as [RuleId, number][];
  const lines = [
    `Replayed ${c.lines} lines in ${(ms / 1000).toFixed(2)} s (${Math.round(c.lines / Math.max(ms / 1000, 0.001))} lines/s).`,
    `  access lines: ${c.accessLines} (egress analysed: ${c.analysed}, in-mesh/inbound: ${c.notEgress}, late and dead-lettered: ${p.engine.counters.late})`,
    `  skipped: ${skipped}${
      skipped > 0
        ? ` (${Object.entries(c.skipped)
            .map(([r, n]) => `${r}: ${n}`)
            .join(', ')})`
        : ''
    }`,
    `  malformed: ${c.malformed} (dead-lettered: ${c.deadLettered})`,
    `  alerts: ${perRule.reduce((a, [, n]) => a + n, 0)} (${alertsWritten} records written)${perRule.length > 0 ? '' : ''}`,
    ...perRule.map(([rule, n]) => `    ${rule}: ${n}`),
    `  repeats suppressed: ${p.alerts.repeatsSuppressed}; exceptions applied: ${p.alerts.exceptionsApplied}`,
    ...p.alerts.exceptionCounts
      .filter((e) => e.suppressed > 0)
      .map((e) => `    exception ${e.index} (${e.rule}, ${e.reason}): ${e.suppressed}`),
  ];
  if (statePath !== null) lines.push(`  state saved to ${statePath}`);
  return `${lines.join('\n')}\n`;
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'Run detection over log files (or stdin) and write alerts as JSON lines.',
  async run(args) {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(args);
    } catch (err) {
      throw new SentinelError('ESN_INPUT', `${(err as Error).message}\n\n${HELP}`, { where: 'replay' });
    }
    const v = parsed.values;
    if (v.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const started = performance.now();
    const config: PipelineConfig =
      v.config === undefined ? parsePipelineConfig({}, '(defaults)') : loadPipelineConfig(v.config);
    if (v.format !== undefined && !['auto', 'text', 'json', 'custom'].includes(v.format)) {
      throw new SentinelError(
        'ESN_INPUT',
        `Expected --format auto, text, json or custom, got "${v.format}".`,
        { where: '--format' },
      );
    }
    // Policy files named in a config are relative to that config file.
    const configDir = v.config === undefined ? process.cwd() : dirname(resolve(v.config));
    const policies = loadPolicyFiles([
      ...config.policies.map((p) => resolve(configDir, p)),
      ...(v.policy ?? []),
    ]);
    const processor = new BatchProcessor({
      detection: config.detection,
      decoder: {
        format: (v.format as FormatMode | undefined) ?? config.parse.format,
        customFormat: config.parse.customFormat,
        customJsonFormat: config.parse.customJsonFormat,
      },
      mesh: config.mesh,
      policies,
    });
    if (v.state !== undefined) await loadState(v.state, processor.engine.state);

    const alertsOut: NodeJS.WritableStream =
      v.alerts === undefined ? process.stdout : await openOut(v.alerts);
    const deadPath =
      v['dead-letters'] ??
      (v.alerts === undefined ? undefined : join(dirname(v.alerts), 'dead-letters.jsonl'));
    let deadOut: WriteStream | null = null;
    let alertsWritten = 0;

    const drain = async (): Promise<void> => {
      const alerts = processor.takeAlerts();
      alertsWritten += alerts.length;
      let text = '';
      for (const a of alerts) text += `${JSON.stringify(a)}\n`;
      await write(alertsOut, text);
      const dead: DeadLetter[] = processor.takeDeadLetters();
      if (dead.length > 0 && deadPath !== undefined) {
        deadOut ??= await openOut(deadPath);
        // The record `run` writes to its dead-letter file, so the two can be compared.
        await write(deadOut, dead.map((d) => `${JSON.stringify(lineDeadLetter(d))}\n`).join(''));
      }
    };

    const inputs = parsed.positionals.length === 0 ? ['-'] : parsed.positionals;
    const signal = new AbortController().signal;
    for (const input of inputs) {
      const source =
        input === '-'
          ? new StdinSource({ batchSize: READ_LINES })
          : new FileSource({ path: input, batchSize: READ_LINES });
      let lastLine = 0;
      let sinceAdvance = 0;
      try {
        for await (const batch of source.batches(signal)) {
          sinceAdvance += batch.lines.length;
          const advance = sinceAdvance >= BATCH;
          if (advance) sinceAdvance = 0;
          processor.processLines(batch.lines, batch.source, (i) => batch.position(i), advance);
          lastLine = Number(batch.position(batch.lines.length - 1));
          await drain();
        }
        // The input's last, partial batch.
        if (sinceAdvance > 0) {
          processor.advance();
          await drain();
        }
      } catch (err) {
        // Name the file and where reading stopped (a truncated gzip, a vanished file).
        throw new SentinelError(
          'ESN_INPUT',
          `Cannot read ${input} after line ${lastLine}: ${(err as Error).message}`,
          {
            where: `${input}:${lastLine + 1}`,
            cause: err,
          },
        );
      } finally {
        await source.close();
      }
    }
    processor.finish();
    await drain();
    let statePath: string | null = null;
    if (v.state !== undefined) {
      saveState(v.state, processor.engine.state);
      statePath = v.state;
    }
    const closing: Promise<void>[] = [];
    for (const s of [
      alertsOut === process.stdout ? null : (alertsOut as WriteStream),
      deadOut as WriteStream | null,
    ]) {
      if (s !== null) closing.push(new Promise((resolve) => s.end(() => resolve())));
    }
    await Promise.all(closing);
    process.stderr.write(formatSummary(processor, performance.now() - started, alertsWritten, statePath));
    return 0;
  },
};

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      policy: { type: 'string', multiple: true },
      alerts: { type: 'string' },
      'dead-letters': { type: 'string' },
      state: { type: 'string' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
