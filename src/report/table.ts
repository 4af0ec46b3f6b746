/** The alert table for a terminal: fixed columns, long values cut, control characters removed. */
import type { Alert } from '../alerts/types.js';
import { destinationLabel, sourceLabel } from './model.js';

// Log-derived text could carry terminal escape sequences: strip control characters before printing.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function cell(text: string, width: number): string {
  const clean = text.replace(CONTROL, '?');
  return clean.length > width ? `${clean.slice(0, width - 1)}…` : clean.padEnd(width);
}

export function alertTable(alerts: readonly Alert[], reasonWidth = 90): string {
  const cols: [string, number][] = [
    ['first seen (UTC)', 19],
    ['rule', 23],
    ['severity', 8],
    ['source', 22],
    ['destination', 34],
    ['reason', reasonWidth],
  ];
  const line = (values: string[]) =>
    values
      .map((v, i) => cell(v, (cols[i] as [string, number])[1]))
      .join('  ')
      .trimEnd();
  const out = [line(cols.map((c) => c[0])), line(cols.map((c) => '-'.repeat(c[1])))];
  for (const a of alerts) {
    out.push(
      line([
        (a.alert?.first_seen ?? a['@timestamp']).slice(0, 19).replace('T', ' '),
        a.rule.id,
        a.severity,
        sourceLabel(a.source),
        destinationLabel(a.destination ?? null),
        a.alert?.status === 'resolved' ? `[resolved] ${a.reason}` : a.reason,
      ]),
    );
  }
  return out.join('\n');
}

/** Alerts of one (rule, source, destination): every realert window of a continuing condition. */
export interface AlertGroup {
  rule: string;
  source: string;
  destination: string;
  /** Oldest first. */
  alerts: Alert[];
  /** Findings behind them: each alert plus the repeats counted on it. */
  occurrences: number;
  firstSeen: string;
  lastSeen: string;
}

/** Groups alerts (the last record of each id) by rule, source and destination, ordered by first seen. */
export function groupAlerts(alerts: readonly Alert[]): AlertGroup[] {
  const groups = new Map<string, AlertGroup>();
  for (const a of alerts) {
    const source = sourceLabel(a.source);
    const destination = destinationLabel(a.destination ?? null);
    const key = `${a.rule.id}\n${source}\n${destination}`;
    const first = a.alert?.first_seen ?? a['@timestamp'];
    const last = a.alert?.last_seen ?? a['@timestamp'];
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        rule: a.rule.id,
        source,
        destination,
        alerts: [],
        occurrences: 0,
        firstSeen: first,
        lastSeen: last,
      };
      groups.set(key, g);
    }
    g.alerts.push(a);
    g.occurrences += 1 + (a.alert?.repeats ?? 0);
    if (first < g.firstSeen) g.firstSeen = first;
    if (last > g.lastSeen) g.lastSeen = last;
  }
  const out = [...groups.values()];
  for (const g of out) g.alerts.sort((x, y) => x.alert.first_seen.localeCompare(y.alert.first_seen));
  return out.sort((x, y) => x.firstSeen.localeCompare(y.firstSeen) || x.rule.localeCompare(y.rule));
}

/**
 * One row per (rule, source, destination): how many times it was seen (findings, repeats included),
 * first seen, and the first alert's reason ([resolved] when the latest alert resolved).
 */
export function alertGroupTable(alerts: readonly Alert[], reasonWidth = 90): string {
  const cols: [string, number][] = [
    ['times', 6],
    ['first seen (UTC)', 19],
    ['rule', 23],
    ['severity', 8],
    ['source', 22],
    ['destination', 34],
    ['reason', reasonWidth],
  ];
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === 0 ? v.padStart(6) : cell(v, (cols[i] as [string, number])[1])))
      .join('  ')
      .trimEnd();
  const out = [line(cols.map((c) => c[0])), line(cols.map((c) => '-'.repeat(c[1])))];
  for (const g of groupAlerts(alerts)) {
    const first = g.alerts[0] as Alert;
    const latest = g.alerts[g.alerts.length - 1] as Alert;
    out.push(
      line([
        String(g.occurrences),
        g.firstSeen.slice(0, 19).replace('T', ' '),
        g.rule,
        latest.severity,
        g.source,
        g.destination,
        latest.alert?.status === 'resolved' ? `[resolved] ${latest.reason}` : first.reason,
      ]),
    );
  }
  return out.join('\n');
}
