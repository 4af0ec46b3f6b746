/**
 * `egress-sentinel demo` (`npm run demo`): the first five minutes. Simulates a day of mesh traffic
 * with the seed's attacks, replays it through the embedded pipeline (the `replay` command, with the
 * seed's AuthorizationPolicy), and prints the alerts as a table, which attacks were caught, and
 * where the alerts, the traffic and the HTML report are.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Alert } from '../alerts/types.js';
import { SentinelError } from '../errors.js';
import { renderReport } from '../report/html.js';
import { buildModel } from '../report/model.js';
import { alertGroupTable, groupAlerts } from '../report/table.js';
import type { Dataplane } from '../simulate/ambient.js';
import { ATTACK_NAMES } from '../simulate/attacks.js';
import { generateTraffic, type Manifest } from '../simulate/generate.js';
import { parseDataplane } from '../simulate/options.js';
import { writeLinesToFile } from '../simulate/output.js';
import { DAY } from '../simulate/topology.js';
import type { Command } from './command.js';
import { UsageError } from './exit.js';
import { PACKAGE_ROOT } from './package-root.js';

const POLICY = join(PACKAGE_ROOT, 'deploy/istio/authorization-policy.yaml');
/** The same allow-list attached to the egress waypoint (ambient mode, docs/ambient.md). */
const AMBIENT_POLICY = join(PACKAGE_ROOT, 'deploy/istio/ambient/authorization-policy.yaml');

const log = (text: string) => process.stderr.write(`demo: ${text}\n`);

/** Which attacks raised their expected rule at or after their start, and how fast. */
export function scoreAttacks(manifest: Manifest, alerts: readonly Alert[]): string[] {
  return manifest.attacks.map((a) => {
    const start = Date.parse(a.start);
    // first_seen: the last record of an alert may be its resolution, stamped later.
    const hits = alerts
      .filter((x) => x.rule.id === a.rule && Date.parse(x.alert.first_seen) >= start)
      .map((x) => Date.parse(x.alert.first_seen));
    if (hits.length === 0) return `  missed  ${a.name.padEnd(16)} expected ${a.rule} from ${a.start}`;
    const seconds = Math.round((Math.min(...hits) - start) / 1000);
    return `  caught  ${a.name.padEnd(16)} ${a.rule} after ${seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`}`;
  });
}

/** The alerts file holds a record per change of an alert (fired, repeats counted, resolved): keep the last per id. */
export function readAlerts(file: string): Alert[] {
  if (!existsSync(file)) return [];
  const byId = new Map<string, Alert>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const alert = JSON.parse(line) as Alert;
    byId.set(alert.alert.id, alert);
  }
  return [...byId.values()].sort(
    (a, b) => a.alert.first_seen.localeCompare(b.alert.first_seen) || a.rule.id.localeCompare(b.rule.id),
  );
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Simulate a day with the seed attacks, detect them, print the alerts and write an HTML report.',
  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        out: { type: 'string' },
        seed: { type: 'string' },
        format: { type: 'string' },
        dataplane: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(
        'Usage: egress-sentinel demo [--out DIR (default ./out)] [--seed N] [--format json|text] [--dataplane sidecar|ambient|mixed]\n',
      );
      return 0;
    }
    const out = resolve(values.out ?? 'out');
    mkdirSync(out, { recursive: true });
    if (values.format !== undefined && values.format !== 'json' && values.format !== 'text')
      throw new UsageError('demo', `--format: expected json or text, got "${values.format}".`);
    const format = values.format === 'text' ? 'text' : 'json';
    let dataplane: Dataplane = 'sidecar';
    try {
      if (values.dataplane !== undefined) dataplane = parseDataplane(values.dataplane);
    } catch (err) {
      throw err instanceof SentinelError ? new UsageError('demo', err.message) : err;
    }
    // Which allow-list the mesh enforces: the egress gateway's, the egress waypoint's, or both.
    const policies =
      dataplane === 'sidecar'
        ? [POLICY]
        : dataplane === 'ambient'
          ? [AMBIENT_POLICY]
          : [POLICY, AMBIENT_POLICY];
    const files = {
      traffic: join(out, 'traffic.log'),
      manifest: join(out, 'manifest.json'),
      alerts: join(out, 'alerts.jsonl'),
      latest: join(out, 'alerts-latest.jsonl'),
      flows: join(out, 'flows.jsonl'),
      report: join(out, 'report.html'),
    };
    if (!policies.every((p) => existsSync(p)))
      throw new SentinelError(
        'ESN_INPUT',
        `The demo's policy file is missing: ${policies.join(', ')}. Run the demo from a clone of the repository.`,
        { where: 'demo' },
      );

    const started = Date.now();
    // Two days: the detectors learn for 24 h, then every attack happens on the second day.
    log('simulating two days of mesh traffic, every attack on day two (Fluent Bit envelope, Istio JSON)...');
    const traffic = generateTraffic({
      seed: values.seed ?? 1,
      format,
      envelope: 'fluent-bit',
      durationMs: 2 * DAY,
      rate: 40,
      attacks: ATTACK_NAMES,
      dataplane,
    });
    writeFileSync(files.manifest, `${JSON.stringify(traffic.manifest, null, 2)}\n`);
    let lastProgress = Date.now();
    const lines = await writeLinesToFile(traffic, files.traffic, (n) => {
      if (Date.now() - lastProgress < 2000) return;
      lastProgress = Date.now();
      log(`  ${n} lines...`);
    });
    log(`wrote ${lines} lines in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    log('replaying them through the pipeline (egress-sentinel replay)...');
    const { replayCommand } = await import('./replay.js');
    const code = await replayCommand.run([
      ...policies.flatMap((p) => ['--policy', p]),
      '--alerts',
      files.alerts,
      '--flows',
      files.flows,
      files.traffic,
    ]);
    if (code !== 0) {
      throw new SentinelError('ESN_INPUT', `The replay step failed (exit ${code}); see its message above.`, {
        where: 'demo',
      });
    }

    log('writing the HTML report...');
    // The replay writes a record per change of an alert; the table and the report show each alert once.
    const alerts = readAlerts(files.alerts);
    writeFileSync(
      files.latest,
      alerts.map((a) => JSON.stringify(a)).join('\n') + (alerts.length ? '\n' : ''),
    );
    const title = `egress-sentinel demo: ${traffic.manifest.start.slice(0, 10)} to ${traffic.manifest.end.slice(0, 10)}`;
    writeFileSync(files.report, renderReport(buildModel(files.latest, files.flows, title)));

    // The reason wraps in its column, or on lines of its own on a narrow terminal: never cut.
    const columns = process.stdout.columns ?? 200;
    const width = Math.max(40, columns - 126);
    // One row per (rule, source, destination): a condition that continues for hours is one line
    // with how many times it was seen, not one line per realert window.
    const groups = groupAlerts(alerts).length;
    process.stdout.write(
      `\n${alerts.length} alerts from ${lines} log lines (${traffic.manifest.start} to ${traffic.manifest.end}), ${groups} distinct (rule, source, destination):\n\n`,
    );
    process.stdout.write(`${alertGroupTable(alerts, width, columns)}\n\n`);
    process.stdout.write(
      `Injected attacks (ground truth in manifest.json):\n${scoreAttacks(traffic.manifest, alerts).join('\n')}\n\n`,
    );
    const rel = (f: string) => relative(process.cwd(), f) || f;
    process.stdout.write(
      `Files:\n  traffic   ${rel(files.traffic)}\n  manifest  ${rel(files.manifest)}\n  alerts    ${rel(files.alerts)}\n  flows     ${rel(files.flows)}\n  report    ${rel(files.report)}  (open it in a browser)\n`,
    );
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  },
};
