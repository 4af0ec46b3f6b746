/**
 * CRI (containerd / CRI-O) log-file lines: `<RFC3339Nano> <stdout|stderr> <P|F> <payload>`. `P` marks
 * a partial line (the runtime split a line over 16 KiB); partials are skipped with a reason because
 * reassembling them needs the neighbouring lines, which a per-line decoder does not have.
 */
import { parseIsoTime } from '../time.js';

export interface CriParts {
  payloadStart: number;
  partial: boolean;
  time: number;
}

/** Recognises a CRI line; fills `out` and returns true, or false when the line is not one. */
export function readCri(line: string, out: CriParts): boolean {
  const sp = line.indexOf(' ');
  if (sp < 20 || sp > 40) return false;
  const s = line.charCodeAt(sp + 1);
  if (s !== 115 || !(line.startsWith('stdout ', sp + 1) || line.startsWith('stderr ', sp + 1))) return false;
  const tag = line.charCodeAt(sp + 8);
  if ((tag !== 70 && tag !== 80) || line.charCodeAt(sp + 9) !== 32) return false;
  out.partial = tag === 80;
  out.payloadStart = sp + 10;
  out.time = parseIsoTime(line, 0, sp);
  return true;
}
