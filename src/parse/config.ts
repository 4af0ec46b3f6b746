/** The `parse` section of a pipeline config: how lines are read (`--format` overrides `format`). */
import { z } from 'zod';
import { duration } from '../config/duration.js';
import type { DecoderOptions } from './decoder.js';
import { DEFAULT_ACCESS_LOG_CONTAINERS } from './ingest-guard.js';

export const ParseConfigSchema = z
  .object({
    format: z
      .enum(['auto', 'text', 'json', 'custom'])
      .default('auto')
      .describe(
        'auto detects Istio TEXT (every release), Istio JSON and envelopes per line; text/json force one; custom uses customFormat/customJsonFormat only.',
      ),
    customFormat: z
      .string()
      .min(1)
      .optional()
      .describe(
        'An Envoy format string (meshConfig.accessLogFormat), e.g. "[%START_TIME%] %REQ(:AUTHORITY)% %DOWNSTREAM_PEER_URI_SAN%"; tried first in auto mode.',
      ),
    customJsonFormat: z
      .record(z.string(), z.string())
      .optional()
      .describe(
        'A JSON access-log key map {key: "%COMMAND%"} (json_format / Telemetry labels), replacing the Istio JSON keys.',
      ),
    accessLogContainers: z
      .array(z.string().min(1))
      .default([...DEFAULT_ACCESS_LOG_CONTAINERS])
      .describe(
        'Containers that write access logs; an access line a shipper says came from another container (an app printing Envoy-looking lines) is dead-lettered. [] turns the check off.',
      ),
    maxClockSkew: duration(
      '5m',
      "How far a line's START_TIME may be ahead of its shipper's timestamp or the wall clock; a line further ahead is dead-lettered (it would move event time and freeze every window).",
    ),
    maxTimeJump: duration(
      '1h',
      "How far a line without a shipper's timestamp may be ahead of the newest line of its input (file, Kafka partition) and be analysed at once; a line further ahead waits for the lines after it: 8 more that far ahead (a gap in the input) release it, 2 at the old time dead-letter it (it would move event time and freeze every window). 0s: no check.",
    ),
  })
  .strict()
  .refine((c) => c.format !== 'custom' || c.customFormat !== undefined || c.customJsonFormat !== undefined, {
    message: 'format "custom" needs customFormat or customJsonFormat',
    path: ['format'],
  });

export type ParseConfig = z.infer<typeof ParseConfigSchema>;

/** The decoder's options from the `parse` section (absent custom formats left out, as the decoder wants). */
export function decoderOptions(parse: ParseConfig): DecoderOptions {
  return {
    format: parse.format,
    guard: { accessLogContainers: parse.accessLogContainers, maxClockSkewMs: parse.maxClockSkew },
    maxTimeJumpMs: parse.maxTimeJump,
    ...(parse.customFormat === undefined ? {} : { customFormat: parse.customFormat }),
    ...(parse.customJsonFormat === undefined ? {} : { customJsonFormat: parse.customJsonFormat }),
  };
}
