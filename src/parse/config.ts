/** The `parse` section of a pipeline config: how lines are read (`--format` overrides `format`). */
import { z } from 'zod';

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
