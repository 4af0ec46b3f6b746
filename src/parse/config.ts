/** The `parse` section of a pipeline config: how lines are read (`--format` overrides `format`). */
import { z } from 'zod';
import type { DecoderOptions } from './decoder.js';

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
    ...(parse.customFormat === undefined ? {} : { customFormat: parse.customFormat }),
    ...(parse.customJsonFormat === undefined ? {} : { customJsonFormat: parse.customJsonFormat }),
  };
}
