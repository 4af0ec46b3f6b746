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
