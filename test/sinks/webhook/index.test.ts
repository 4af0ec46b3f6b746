import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_BATCH } from '../../../src/sinks/types.js';
import { verifySignature } from '../../../src/sinks/webhook/generic.js';
import {
  PagerDutySinkConfigSchema,
  WebhookSink,
  WebhookSinkConfigSchema,
} from '../../../src/sinks/webhook/index.js';
import { makeAlert, type Receiver, startReceiver, testContext } from '../helpers.js';

const fastRetry = { maxAttempts: 4, initialDelayMs: 5, maxDelayMs: 20 };

describe('WebhookSink', () => {
  let rx: Receiver;
  beforeEach(async () => {
    rx = await startReceiver();
  });
  afterEach(async () => {
    await rx.close();
  });

  function genericSink(extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = { HOOK_SECRET: 'k3y' }) {
    const ctx = testContext(env);
    const config = WebhookSinkConfigSchema.parse({
      type: 'webhook',
      url: rx.url,
      secret: { env: 'HOOK_SECRET' },
      retry: fastRetry,
      ...extra,
    });
    return { sink: new WebhookSink(config, ctx), ctx };
  }

  it('retries a 503 with backoff and delivers each alert once with a valid signature', async () => {
    rx.respond = (_r, n) => (n <= 2 ? 503 : 200);
    const { sink } = genericSink();
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert({ id: 'one' }), makeAlert({ id: 'two' })] });
    expect(rx.requests).toHaveLength(4);
    const ok = rx.requests.slice(2);
    expect(ok.map((r) => JSON.parse(r.body).alert.id)).toEqual(['one', 'two']);
    for (const r of ok) {
      const ts = r.headers['x-egress-sentinel-timestamp'] as string;
      expect(verifySignature('k3y', ts, r.body, r.headers['x-egress-sentinel-signature'] as string)).toBe(
        true,
      );
    }
  });

  it('dead-letters an alert the endpoint refuses (400) without retrying it', async () => {
    rx.respond = () => 400;
    const { sink, ctx } = genericSink();
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert({ id: 'bad' })] });
    expect(rx.requests).toHaveLength(1);
    expect(ctx.deadLetters).toHaveLength(1);
    expect(ctx.deadLetters[0]?.origin).toBe('bad');
    expect(ctx.deadLetters[0]?.reason).toContain('400');
  });

  it('fails the write when retries run out (pause), then delivers only what is missing on the retried batch', async () => {
    rx.respond = (r) => (JSON.parse(r.body).alert.id === 'second' && rx.requests.length < 6 ? 503 : 200);
    const { sink, ctx } = genericSink();
    const batch = { ...EMPTY_BATCH, alerts: [makeAlert({ id: 'first' }), makeAlert({ id: 'second' })] };
    await expect(sink.write(batch)).rejects.toThrow(/503/);
    await sink.write(batch);
    const delivered = rx.requests
      .filter((_r, i) => i === 0 || i >= 5)
      .map((r) => JSON.parse(r.body).alert.id);
    expect(delivered).toEqual(['first', 'second']);
    expect(rx.requests.filter((r) => JSON.parse(r.body).alert.id === 'first')).toHaveLength(1);
    expect(ctx.deadLetters).toHaveLength(0);
  });

  it('dead-letters after the last retry when onExhausted is dead_letter', async () => {
    rx.respond = () => 503;
    const { sink, ctx } = genericSink({ onExhausted: 'dead_letter' });
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert({ id: 'lost' })] });
    expect(rx.requests).toHaveLength(4);
    expect(ctx.deadLetters[0]?.reason).toMatch(/503.*after 4 attempts/);
  });

  it('sends only the alerts its route selects', async () => {
    const { sink } = genericSink({ route: { minSeverity: 'high', excludeRules: ['beaconing'] } });
    await sink.write({
      ...EMPTY_BATCH,
      alerts: [
        makeAlert({ id: 'low', severity: 'low' }),
        makeAlert({ id: 'crit', severity: 'critical' }),
        makeAlert({ id: 'beacon', severity: 'critical', rule: { id: 'beaconing', name: 'Beaconing' } }),
      ],
    });
    expect(rx.requests.map((r) => JSON.parse(r.body).alert.id)).toEqual(['crit']);
  });

  it('holds to the per-endpoint rate limit', async () => {
    const { sink } = genericSink({ rateLimit: { perSecond: 20, burst: 1 } });
    const t0 = Date.now();
    await sink.write({
      ...EMPTY_BATCH,
      alerts: Array.from({ length: 6 }, (_, i) => makeAlert({ id: `r${i}` })),
    });
    expect(rx.requests).toHaveLength(6);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(230);
  });

  it('never logs the signing secret', async () => {
    rx.respond = () => 503;
    const { sink, ctx } = genericSink({ onExhausted: 'dead_letter' });
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert()] });
    expect(JSON.stringify(ctx.logs) + JSON.stringify(ctx.deadLetters)).not.toContain('k3y');
  });

  it('sends PagerDuty a trigger and then a resolve with the same dedup_key', async () => {
    const ctx = testContext({ PD_KEY: 'routing-123' });
    const sink = new WebhookSink(
      PagerDutySinkConfigSchema.parse({ type: 'pagerduty', url: rx.url, routingKey: { env: 'PD_KEY' } }),
      ctx,
    );
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert({ id: 'pd1' })] });
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert({ id: 'pd1', status: 'resolved' })] });
    const bodies = rx.requests.map((r) => JSON.parse(r.body));
    expect(bodies.map((b) => [b.event_action, b.dedup_key, b.routing_key])).toEqual([
      ['trigger', 'pd1', 'routing-123'],
      ['resolve', 'pd1', 'routing-123'],
    ]);
  });

  it('refuses to start when the secret variable is unset, naming the variable', () => {
    expect(() => genericSink({}, {})).toThrow(/HOOK_SECRET is not set/);
  });
});
