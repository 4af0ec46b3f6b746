/** Which alerts an endpoint receives: a minimum severity, optionally some rules only, and which statuses. */
import { z } from 'zod';
import type { Alert } from '../../alerts/types.js';
import { RULE_IDS, type Severity } from '../../detect/rules.js';

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

export const RouteSchema = z
  .object({
    minSeverity: z
      .enum(['low', 'medium', 'high', 'critical'])
      .default('low')
      .describe('Send alerts of at least this severity.'),
    rules: z.array(z.enum(RULE_IDS)).min(1).optional().describe('Only these rule ids (default: every rule).'),
    excludeRules: z.array(z.enum(RULE_IDS)).default([]).describe('Never these rule ids.'),
    statuses: z
      .array(z.enum(['firing', 'resolved']))
      .min(1)
      .default(['firing', 'resolved'])
      .describe('Send firing alerts, resolutions, or both.'),
  })
  .strict();

export type Route = z.infer<typeof RouteSchema>;

export const DEFAULT_ROUTE: Route = {
  minSeverity: 'low',
  excludeRules: [],
  statuses: ['firing', 'resolved'],
};

export function routeMatches(route: Route, alert: Alert): boolean {
  if (SEVERITY_RANK[alert.severity] < SEVERITY_RANK[route.minSeverity]) return false;
  if (route.rules !== undefined && !route.rules.includes(alert.rule.id)) return false;
  if (route.excludeRules.includes(alert.rule.id)) return false;
  return route.statuses.includes(alert.alert.status);
}
