/**
 * PagerDuty Events API v2 (`POST /v2/enqueue`): a `trigger` per firing alert and a `resolve` when
 * the alert's condition cleared, both with `dedup_key` = alert.id so PagerDuty folds repeats and
 * redeliveries into one incident and the resolve closes it.
 */
import type { Alert, Severity } from '../../alerts/types.js';
import type { HttpRequest } from './retry.js';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

const PD_SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
};

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  client?: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
}

export function pagerDutyEvent(alert: Alert, routingKey: string): PagerDutyEvent {
  if (alert.alert.status === 'resolved') {
    return { routing_key: routingKey, event_action: 'resolve', dedup_key: alert.alert.id };
  }
  const who = alert.source.workload ?? alert.source.principal ?? alert.source.ip ?? 'unknown source';
  const where = alert.destination.domain ?? alert.destination.ip ?? 'unknown destination';
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: alert.alert.id,
    client: 'egress-sentinel',
    payload: {
      // PagerDuty truncates at 1024 characters; cut it ourselves so the end stays readable.
      summary: `[${alert.rule.id}] ${alert.reason}`.slice(0, 1024),
      source: alert.source.namespace ? `${alert.source.namespace}/${who}` : who,
      severity: PD_SEVERITY[alert.severity],
      timestamp: alert['@timestamp'],
      component: where,
      group: alert.source.namespace ?? 'unknown',
      class: alert.rule.id,
      custom_details: {
        alert_id: alert.alert.id,
        rule: alert.rule.name,
        destination: alert.destination,
        source: alert.source,
        path: alert.network.path,
        repeats: alert.alert.repeats,
        first_seen: alert.alert.first_seen,
        last_seen: alert.alert.last_seen,
        evidence: alert.evidence,
      },
    },
  };
}

export function pagerDutyRequest(url: string, alert: Alert, routingKey: string): HttpRequest {
  return {
    url,
    body: JSON.stringify(pagerDutyEvent(alert, routingKey)),
    headers: () => ({ 'user-agent': 'egress-sentinel' }),
    secrets: [routingKey],
  };
}
