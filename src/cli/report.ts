/** `egress-sentinel report`: alerts (and optionally events or flows) to a self-contained HTML page. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { renderReport } from '../report/html.js';
import { buildModel } from '../report/model.js';
import type { Command } from './command.js';
import { UsageError } from './exit.js';

const HELP = `Usage: egress-sentinel report --alerts FILE [--events FILE] [--out report.html] [--title TEXT]

Turns alerts (JSON lines) and optionally events or flows (JSON lines) into one HTML file with an
egress map, timelines per rule and the alert table. The page loads nothing from the network.

An alerts file from replay or the Kafka feed holds several records per alert (fired, its repeat count
growing, resolved): the report shows one row per alert id, its latest record. Without --events the map
shows only the pairs that alerted; \`replay --flows FILE\` writes the flows of all traffic for it.

Options:
  --alerts FILE    alerts as JSON lines (required)
  --events FILE    flow summaries (replay --flows) or events as JSON lines, for the egress map
  --out FILE       where to write the page (default report.html)
  --title TEXT     the page title
`;

export const reportCommand: Command = {
  name: 'report',
  summary: 'Write a self-contained HTML report (egress map, timelines, alert table) from an alerts file.',
  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        alerts: { type: 'string' },
        events: { type: 'string' },
        out: { type: 'string' },
        title: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values.alerts === undefined) throw new UsageError('report', '--alerts FILE is required.');
    const model = buildModel(values.alerts, values.events, values.title);
    const out = values.out ?? 'report.html';
    writeFileSync(out, renderReport(model));
    process.stderr.write(
      `report: ${model.alerts.length} alerts (from ${model.records} records: the latest of each alert id), ${model.edges.length} pairs -> ${resolve(out)}\n`,
    );
    return 0;
  },
};
