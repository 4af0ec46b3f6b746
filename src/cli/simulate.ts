/**
 * `egress-sentinel simulate`: realistic Istio mesh traffic with chosen attacks, as access-log lines in
 * a chosen format and shipper envelope, to a file, stdout or Kafka, plus a ground-truth manifest.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SentinelError } from '../errors.js';
import { ATTACK_NAMES } from '../simulate/attacks.js';
import { ENVELOPES } from '../simulate/envelope.js';
import { DEFAULT_OPTIONS, generateTraffic, type SimulateOptions } from '../simulate/generate.js';
import {
  parseAttacks,
  parseDataplane,
  parseDuration,
  parseEnvelope,
  parseFormat,
  parseRate,
  parseTime,
} from '../simulate/options.js';
import { parseKafkaTarget, writeLinesToFile, writeMessagesToKafka } from '../simulate/output.js';
import type { Command } from './command.js';
import { UsageError } from './exit.js';

const HELP = `Usage: egress-sentinel simulate [options]

Writes simulated Istio sidecar and egress-gateway access-log lines (app A, app B, a frontend, a
metrics agent, a nightly backup job, day/night load, pod restarts) with chosen attacks.

Options:
  --to FILE|-|kafka://host:port/topic   where to write (default: -, stdout)
  --format text|json                     Istio TEXT (1.23+ default) or JSON encoding (default: json)
  --envelope ${ENVELOPES.join('|')}   shipper wrapper with Kubernetes metadata (default: none)
  --start TIME                           ISO 8601 start (default: ${new Date(DEFAULT_OPTIONS.start).toISOString()})
  --duration DUR                         e.g. 6h, 1d, 3d (default: 1d)
  --seed N                               same seed, byte-identical output (default: 1)
  --rate N                               peak requests per minute across the mesh (default: ${DEFAULT_OPTIONS.rate})
  --attack LIST                          comma-separated, or all: ${ATTACK_NAMES.join(', ')}
  --attack-start TIME                    when the first attack starts (default: halfway through)
  --dataplane sidecar|ambient|mixed      sidecars (default), Istio ambient mode (ztunnel records, an egress
                                         waypoint), or mixed (app-a, web, monitoring ambient; the rest sidecars)
  --manifest FILE                        write the ground truth (attacks, start times, expected rules) as JSON
`;

export function optionsFromArgs(args: readonly string[]): {
  options: SimulateOptions;
  to: string;
  manifest: string | undefined;
  help: boolean;
} {
  const v = parse(args).values;
  // The option parsers' errors are usage errors (exit 2), whatever code they carry.
  return usage(() => options(v));
}

function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof SentinelError) throw new UsageError('simulate', err.message);
    throw err;
  }
}

function options(v: ReturnType<typeof parse>['values']): {
  options: SimulateOptions;
  to: string;
  manifest: string | undefined;
  help: boolean;
} {
  const options: SimulateOptions = {
    ...DEFAULT_OPTIONS,
    start: v.start === undefined ? DEFAULT_OPTIONS.start : parseTime(v.start, '--start'),
    durationMs:
      v.duration === undefined ? DEFAULT_OPTIONS.durationMs : parseDuration(v.duration, '--duration'),
    seed: v.seed ?? DEFAULT_OPTIONS.seed,
    format: v.format === undefined ? DEFAULT_OPTIONS.format : parseFormat(v.format),
    envelope: v.envelope === undefined ? DEFAULT_OPTIONS.envelope : parseEnvelope(v.envelope),
    rate: v.rate === undefined ? DEFAULT_OPTIONS.rate : parseRate(v.rate),
    attacks: v.attack === undefined ? [] : parseAttacks(v.attack),
  };
  if (v['attack-start'] !== undefined) options.attackStart = parseTime(v['attack-start'], '--attack-start');
  if (v.dataplane !== undefined) options.dataplane = parseDataplane(v.dataplane);
  return { options, to: v.to ?? '-', manifest: v.manifest, help: v.help === true };
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      to: { type: 'string' },
      format: { type: 'string' },
      envelope: { type: 'string' },
      start: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      rate: { type: 'string' },
      attack: { type: 'string' },
      'attack-start': { type: 'string' },
      dataplane: { type: 'string' },
      manifest: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'Write simulated mesh traffic with chosen attacks (file, stdout or Kafka).',
  async run(args) {
    const { options, to, manifest, help } = optionsFromArgs(args);
    if (help) {
      process.stdout.write(HELP);
      return 0;
    }
    const traffic = generateTraffic(options);
    if (manifest !== undefined) writeFileSync(manifest, `${JSON.stringify(traffic.manifest, null, 2)}\n`);
    const started = Date.now();
    let lastReport = started;
    const progress = (n: number) => {
      const now = Date.now();
      if (now - lastReport < 2000) return;
      lastReport = now;
      process.stderr.write(`simulate: ${n} lines written...\n`);
    };
    const kafka = usage(() => parseKafkaTarget(to));
    const count =
      kafka === null
        ? await writeLinesToFile(traffic, to, progress)
        : await writeMessagesToKafka(traffic.messages(), kafka, progress);
    const where = kafka === null ? (to === '-' ? 'stdout' : to) : `Kafka topic ${kafka.topic}`;
    process.stderr.write(
      `simulate: wrote ${count} lines (${traffic.manifest.start} to ${traffic.manifest.end}, ${traffic.manifest.attacks.length} attacks) to ${where} in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`,
    );
    return 0;
  },
};

export default simulateCommand;
