/**
 * The JSON access-log parsers' common first step (Istio's JSON encoding, ztunnel's JSON records):
 * one line read as one JSON object, then filled into an AccessRecord by the parser.
 */
import { resetRecord } from './fields.js';
import type { AccessRecord, ParseOutcome } from './types.js';

/** Fills an AccessRecord from a parsed JSON object (also used for objects an envelope parsed). */
export interface JsonObjectFiller {
  fill(obj: Record<string, unknown>, out: AccessRecord): ParseOutcome;
}

/**
 * Parses `line` as a JSON object and fills `out` from it with `filler`; when the line is not valid
 * JSON or not an object, resets `out` and returns the malformed outcome, its reason starting with
 * `what` (the kind of line expected).
 */
export function fillFromJsonLine(
  line: string,
  what: string,
  filler: JsonObjectFiller,
  out: AccessRecord,
): ParseOutcome {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    resetRecord(out);
    return { kind: 'malformed', reason: `${what}: not valid JSON (${(err as Error).message})` };
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    resetRecord(out);
    return { kind: 'malformed', reason: `${what}: not a JSON object` };
  }
  return filler.fill(obj as Record<string, unknown>, out);
}
