/**
 * The alert table for a terminal: fixed columns (long names cut), the reason last and wrapped onto
 * further lines rather than cut, control characters removed.
 */
import type { Alert } from '../alerts/types.js';
import { destinationLabel, sourceLabel } from './model.js';

// Log-derived text could carry terminal escape sequences: strip control characters before printing.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function cell(text: string, width: number): string {
  const clean = text.replace(CONTROL, '?');
  return clean.length > width ? `${clean.slice(0, width - 1)}…` : clean.padEnd(width);
}

/** Words of `text` in lines of at most `width` (a word longer than that is split). */
export function wrap(text: string, width: number): string[] {
  const clean = text.replace(CONTROL, '?');
  const lines: string[] = [];
  let line = '';
  for (let word of clean.split(/\s+/).filter((w) => w !== '')) {
    while (word.length > width) {
      if (line !== '') lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = '';
    }
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

/** Below the row, indented this much, when the reason column does not fit the terminal. */
const BELOW_INDENT = 8;

/**
 * Rows whose last column (the reason) wraps under itself; on a terminal too narrow for the other
 * columns plus the reason (`columns`), the reason goes on lines of its own below its row.
 */
function render(
  cols: readonly [string, number][],
  rows: readonly string[][],
  first = (v: string, w: number) => cell(v, w),
  columns = Number.POSITIVE_INFINITY,
): string {
  const indent = cols.slice(0, -1).reduce((n, [, w]) => n + w + 2, 0);
  const reasonWidth = (cols[cols.length - 1] as [string, number])[1];
  const below = indent + reasonWidth > columns;
  // Below mode: the source and destination columns give up width until the row fits the terminal.
  const narrow = cols.slice(0, -1).map(([, w]) => w);
  let overflow = indent - 2 - columns;
  for (let i = narrow.length - 1; i >= narrow.length - 2 && overflow > 0; i--) {
    const give = Math.min(overflow, (narrow[i] as number) - 16);
    if (give > 0) {
      narrow[i] = (narrow[i] as number) - give;
      overflow -= give;
    }
  }
  const out: string[] = [];
  for (const [r, values] of rows.entries()) {
    if (below) {
      const head = values
        .slice(0, -1)
        .map((v, i) =>
          /^-+$/.test(v)
            ? '-'.repeat(narrow[i] as number)
            : i === 0
              ? first(v, narrow[0] as number)
              : cell(v, narrow[i] as number),
        )
        .join('  ')
        .trimEnd();
      out.push(head);
      // The header rows name the column; data rows carry the text.
      const text = r < 2 ? '' : (values[values.length - 1] ?? '');
      for (const line of text === '' ? [] : wrap(text, Math.max(20, columns - BELOW_INDENT)))
        out.push(`${' '.repeat(BELOW_INDENT)}${line}`);
      continue;
    }
    const head = values
      .slice(0, -1)
      .map((v, i) =>
        i === 0 ? first(v, (cols[0] as [string, number])[1]) : cell(v, (cols[i] as [string, number])[1]),
      )
      .join('  ');
    const reason = wrap(values[values.length - 1] ?? '', reasonWidth);
    out.push(`${head}  ${reason[0] ?? ''}`.trimEnd());
    for (const more of reason.slice(1)) out.push(`${' '.repeat(indent)}${more}`);
  }
  return out.join('\n');
}

export function alertTable(alerts: readonly Alert[], reasonWidth = 90, columns?: number): string {
  const cols: [string, number][] = [
    ['first seen (UTC)', 19],
    ['rule', 23],
    ['severity', 8],
    ['source', 22],
    ['destination', 34],
    ['reason', reasonWidth],
  ];
  const rows = [cols.map((c) => c[0]), cols.map((c) => '-'.repeat(c[1]))];
  for (const a of alerts) {
    rows.push([
      (a.alert?.first_seen ?? a['@timestamp']).slice(0, 19).replace('T', ' '),
      a.rule.id,
      a.severity,
      sourceLabel(a.source),
      destinationLabel(a.destination ?? null),
      a.alert?.status === 'resolved' ? `[resolved] ${a.reason}` : a.reason,
    ]);
  }
  return render(cols, rows, undefined, columns);
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
export function alertGroupTable(alerts: readonly Alert[], reasonWidth = 90, columns?: number): string {
  const cols: [string, number][] = [
    ['times', 6],
    ['first seen (UTC)', 19],
    ['rule', 23],
    ['severity', 8],
    ['source', 22],
    ['destination', 34],
    ['reason', reasonWidth],
  ];
  const rows = [cols.map((c) => c[0]), cols.map((c) => '-'.repeat(c[1]))];
  for (const g of groupAlerts(alerts)) {
    const first = g.alerts[0] as Alert;
    const latest = g.alerts[g.alerts.length - 1] as Alert;
    rows.push([
      String(g.occurrences),
      g.firstSeen.slice(0, 19).replace('T', ' '),
      g.rule,
      latest.severity,
      g.source,
      g.destination,
      latest.alert?.status === 'resolved' ? `[resolved] ${latest.reason}` : first.reason,
    ]);
  }
  return render(cols, rows, (v, w) => v.padStart(w), columns);
}
