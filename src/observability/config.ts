import { z } from 'zod';
import { DEFAULT_METRICS_PORT } from '../config/defaults.js';

export const MetricsConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Serve /metrics, /healthz and /readyz.'),
    host: z
      .string()
      .min(1)
      .default('0.0.0.0')
      .describe('Address to listen on; 0.0.0.0 so Prometheus and kubelet probes can reach the pod.'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(DEFAULT_METRICS_PORT)
      .describe('TCP port (0 picks a free one and logs it).'),
  })
  .strict();

export type MetricsConfig = z.infer<typeof MetricsConfigSchema>;
