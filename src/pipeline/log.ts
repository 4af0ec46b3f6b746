/** A key/value logger on stderr: `level=warn msg="Sink failed a batch." sink=elasticsearch attempt=2`. */
import type { LogFn } from '../sinks/types.js';

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

function value(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[\w.:/@-]+$/.test(s ?? '') ? (s as string) : JSON.stringify(s);
}

export function stderrLog(
  min: keyof typeof LEVELS = 'info',
  out: NodeJS.WritableStream = process.stderr,
): LogFn {
  return (level, message, fields) => {
    if (LEVELS[level] < LEVELS[min]) return;
    let line = `time=${new Date().toISOString()} level=${level} msg=${JSON.stringify(message)}`;
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${value(v)}`;
    out.write(`${line}\n`);
  };
}
