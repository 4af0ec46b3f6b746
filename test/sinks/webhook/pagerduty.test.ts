import { describe, expect, it } from 'vitest';
import { pagerDutyEvent } from '../../../src/sinks/webhook/pagerduty.js';
import { makeAlert } from '../helpers.js';

describe('PagerDuty Events v2', () => {
  it('triggers with dedup_key = alert.id and a mapped severity', () => {
    const ev = pagerDutyEvent(makeAlert({ id: 'abc', severity: 'high' }), 'RKEY');
    expect(ev).toMatchObject({ routing_key: 'RKEY', event_action: 'trigger', dedup_key: 'abc' });
    expect(ev.payload?.severity).toBe('error');
    expect(ev.payload?.summary).toContain('[gateway-bypass]');
    expect(ev.payload?.source).toBe('app-a/app-a');
  });

  it('resolves with the same dedup_key when the alert is resolved', () => {
    const firing = pagerDutyEvent(makeAlert({ id: 'abc' }), 'RKEY');
    const resolved = pagerDutyEvent(makeAlert({ id: 'abc', status: 'resolved' }), 'RKEY');
    expect(resolved).toEqual({ routing_key: 'RKEY', event_action: 'resolve', dedup_key: firing.dedup_key });
  });

  it('keeps the summary within PagerDuty’s 1024 characters', () => {
    const ev = pagerDutyEvent(makeAlert({ reason: 'x'.repeat(5000), severity: 'critical' }), 'K');
    expect(ev.payload?.summary.length).toBe(1024);
    expect(ev.payload?.severity).toBe('critical');
  });
});
