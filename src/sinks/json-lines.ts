/**
 * The JSON-lines encoding shared by the stdout and file sinks: alerts are written as they are (the
 * embedded mode's alerts file), other kinds carry a `kind` field so one stream can hold several.
 */
import { z } from 'zod';
import type { SinkBatch } from './types.js';

export const JSON_LINES_KINDS = ['alerts', 'flows', 'baselines', 'events'] as const;
export type JsonLinesKind = (typeof JSON_LINES_KINDS)[number];

export const IncludeSchema = z
  .array(z.enum(JSON_LINES_KINDS))
  .min(1)
  .default(['alerts'])
  .describe('What to write: any of alerts, flows, baselines, events (every normalised event).');

export function encodeJsonLines(batch: SinkBatch, include: readonly JsonLinesKind[]): string {
  let out = '';
  for (const kind of include) {
    if (kind === 'alerts') for (const a of batch.alerts) out += `${JSON.stringify(a)}\n`;
    else if (kind === 'flows')
      for (const f of batch.flows) out += `${JSON.stringify({ kind: 'flow', ...f })}\n`;
    else if (kind === 'baselines')
      for (const b of batch.baselines) out += `${JSON.stringify({ kind: 'baseline', ...b })}\n`;
    else for (const e of batch.events) out += `${JSON.stringify({ kind: 'event', ...e })}\n`;
  }
  return out;
}
